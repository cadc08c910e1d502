#!/usr/bin/env python3
"""HTTP side of the benchmark: throughput, server peak RSS and cold start.

Starts our `serve`, ipx and thumbor on loopback, each serving the corpus
directory, and drives them with wrk at each concurrency with the same request
mix (the cases of benches/cases.json with "http": true, each in the server's
own URL syntax). The servers run side by side and are measured in turn at each
concurrency, so machine load affects all of them alike. Writes JSON lines to
<raw>/http.jsonl and <raw>/cold.jsonl. Standard library only.

  http_bench.py throughput|variants|cold  (settings from the environment; see run.sh)
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.environ.get("BENCH_WORK", os.path.join(HERE, ".work"))
RAW = os.path.join(WORK, "raw")
CORPUS = os.path.join(WORK, "corpus")
OURS = os.environ["BENCH_OURS_BIN"]
SECS = int(os.environ.get("BENCH_HTTP_SECS", "10"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "2,8,32").split(",")]
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
PASSES = int(os.environ.get("BENCH_HTTP_PASSES", "2"))
CPUS = os.cpu_count() or 1
PORTS = {"ours": 18080, "ipx": 18081, "thumbor": 18082, "ours-fast": 18083}


def cases():
    with open(os.path.join(HERE, "cases.json")) as f:
        return [c for c in json.load(f)["cases"] if c["http"]]


def paths(server):
    """The request mix in one server's URL syntax."""
    out = []
    for c in cases():
        if server.startswith("ours"):
            out.append(f"/{c['input']}?{c['query']}")
        elif server == "ipx":
            out.append(f"/{c['ipx']}/{c['input']}")
        else:
            out.append(f"/unsafe/{c['thumbor']}/{c['input']}")
    return out


def thumbor_conf():
    conf = os.path.join(WORK, "thumbor.conf")
    with open(conf, "w") as f:
        f.write(
            "LOADER = 'thumbor.loaders.file_loader'\n"
            f"FILE_LOADER_ROOT_PATH = {CORPUS!r}\n"
            "STORAGE = 'thumbor.storages.no_storage'\n"
            "RESULT_STORAGE = None\n"
            "ALLOW_UNSAFE_URL = True\n"
            "QUALITY = 80\n"
            "WEBP_QUALITY = 80\n"
            "AUTO_WEBP = False\n"
            "MAX_PIXELS = 60000000\n"
        )
    return conf


def command(server):
    port = str(PORTS[server])
    if server.startswith("ours"):
        # The peers queue every request; ours refuses past its queue (8 per
        # transform slot) with 503 and Retry-After. A queue that holds the
        # largest concurrency makes it measure work, not refusals.
        env = {"TRANSFORM_QUEUE_SIZE": str(2 * max(CONCURRENCY))}
        if server == "ours-fast":
            # sharp's (so ipx's) shrink-on-load trade; thumbor's Pillow draft mode is alike.
            env["FAST_SHRINK_ON_LOAD"] = "Yes"
        return [OURS, "serve", "--origin", CORPUS, "--listen", f"127.0.0.1:{port}"], env
    if server == "ipx":
        ipx = os.path.join(HERE, "peers", "node_modules", ".bin", "ipx")
        return [ipx, "serve", "--dir", CORPUS, "--host", "127.0.0.1", "--port", port], {}
    thumbor = os.path.join(WORK, "thumbor-venv", "bin", "thumbor")
    # One process per core: thumbor's multi-core deployment (a Python
    # process computes on one core at a time).
    return [thumbor, "-i", "127.0.0.1", "-p", port, "-c", thumbor_conf(), "-l", "error",
            "--processes", str(CPUS)], {}


def get(port, path, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, resp.getheader("Content-Type"), len(body)
    finally:
        conn.close()


def start(server, extra_env=None, first=None):
    """Starts a server; returns (process, ms from exec to its first 200 to
    `first`, by default the first request of the mix)."""
    cmd, env = command(server)
    env = {**os.environ, **env, **(extra_env or {})}
    env.setdefault("LOG_LEVEL", "image_handler=warn")
    first = first or paths(server)[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{server} exited with {proc.returncode} before answering")
        try:
            status, _, _ = get(PORTS[server], first, timeout=30)
            if status == 200:
                return proc, (time.perf_counter() - t0) * 1000
            raise SystemExit(f"{server} answered {status} to {first}")
        except (ConnectionError, OSError):
            time.sleep(0.001)
        if time.perf_counter() - t0 > 120:
            raise SystemExit(f"{server} did not answer within 120 s")


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def tree_rss_mb(pid):
    """Peak RSS (VmHWM) of a process and its children (thumbor forks), MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return total / 1024


def check(server):
    """Every request of the mix answers 200 with an image."""
    for p in paths(server):
        status, ctype, size = get(PORTS[server], p)
        if status != 200 or not (ctype or "").startswith("image/") or size == 0:
            raise SystemExit(f"{server}: {p} gave {status} {ctype} {size} bytes")


def wrk(server, concurrency, secs):
    mix = os.path.join(WORK, f"paths-{server}.txt")
    with open(mix, "w") as f:
        f.write("\n".join(paths(server)) + "\n")
    out = subprocess.run(
        ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", f"{secs}s",
         "--timeout", "60s", "-s", os.path.join(HERE, "mix.lua"),
         f"http://127.0.0.1:{PORTS[server]}", "--", mix],
        check=True, capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def emit(name, record):
    with open(os.path.join(RAW, name), "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), file=sys.stderr)


def throughput():
    servers = ["ours", "ipx", "thumbor", "ours-fast"]
    procs = {}
    try:
        for s in servers:
            procs[s], _ = start(s)
            check(s)
            wrk(s, 2, 2)  # warm-up: lazy imports, JIT, first allocations
        for p in range(PASSES):
            # Alternate the servers' order between passes so drift hits all alike.
            order = servers if p % 2 == 0 else list(reversed(servers))
            for c in CONCURRENCY:
                for s in order:
                    r = wrk(s, c, SECS)
                    emit("http.jsonl", {"server": s, "variant": "default", "concurrency": c,
                                        "pass": p, **r, "rss_mb": tree_rss_mb(procs[s].pid)})
    finally:
        for p in procs.values():
            stop(p)


def variants():
    """Our server under different thread/allocator settings, at one concurrency."""
    jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    options = [
        ("default", {}),
        # Every transform on every CPU (libvips' own default).
        (f"VIPS_CONCURRENCY={CPUS}", {"VIPS_CONCURRENCY": str(CPUS)}),
        # glibc's own arena limit, eight per CPU (ours sets one per CPU, at least two).
        (f"MALLOC_ARENA_MAX={8 * CPUS}", {"MALLOC_ARENA_MAX": str(8 * CPUS)}),
    ]
    if os.path.exists(jemalloc):
        options.append(("jemalloc (LD_PRELOAD)", {"LD_PRELOAD": jemalloc}))
    extra = os.environ.get("BENCH_VARIANTS_EXTRA")  # name=VAR=value,VAR=value;...
    for spec in filter(None, (extra or "").split(";")):
        name, _, assigns = spec.partition(":")
        options.append((name, dict(a.split("=", 1) for a in assigns.split(",") if a)))
    c = int(os.environ.get("BENCH_VARIANT_CONCURRENCY", "8"))
    rounds = int(os.environ.get("BENCH_VARIANT_ROUNDS", "2"))
    for r in range(rounds):
        # Alternate the order between rounds so drift in load hits all alike.
        for name, env in (options if r % 2 == 0 else list(reversed(options))):
            proc, _ = start("ours", env)
            try:
                wrk("ours", 2, 2)
                res = wrk("ours", c, SECS)
                emit("http.jsonl", {"server": "ours", "variant": name, "concurrency": c,
                                    "round": r, **res, "rss_mb": tree_rss_mb(proc.pid)})
            finally:
                stop(proc)


def warm_ms(port, path, n=3):
    """Median time of `path` on a server that has already answered it."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        get(port, path)
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[n // 2]


def cold():
    """Exec to the first 200 of the mix's first request (a real transform),
    and that request's time once warm: the difference is the start-up. Ours
    also from exec to the first 200 of /health (libvips started and run)."""
    for r in range(COLD_RUNS):
        for s in ["ours", "ipx", "thumbor"]:
            proc, ms = start(s)
            try:
                warm = warm_ms(PORTS[s], paths(s)[0])
            finally:
                stop(proc)
            record = {"server": s, "ms": ms, "warm_ms": warm}
            if s == "ours":
                proc, ready = start(s, first="/health")
                stop(proc)
                record["health_ms"] = ready
            emit("cold.jsonl", record)


if __name__ == "__main__":
    os.makedirs(RAW, exist_ok=True)
    {"throughput": throughput, "variants": variants, "cold": cold}[sys.argv[1]]()
