#!/usr/bin/env python3
"""Lambda's cold start as Lambda pays it (issue 19, part 3).

Exec of the release binary in Lambda mode to the first answered invocation,
through cargo-lambda's runtime API emulator, reading the original from S3
and (for the signed case) its signing secret from Secrets Manager, both on
moto's server. Lambda bills and the first viewer feels exactly this: the
runtime start, configuration, AWS clients, libvips start, the secret, the
fetch and the transform. Warm is the same invocation once the instance has
answered one; first minus warm is the start-up (init) cost.

Each run gets a fresh emulator and a fresh function process (a killed
process must not leave a poller behind), a fresh port, and the invocation
is sent as soon as the process is spawned: the emulator holds it until the
runtime asks for it, so nothing waits on a poll interval.

    benches/lambda_cold.py [BIN]     (default target/release/image-handler)

Env: BENCH_LAMBDA_RUNS (default 10), BENCH_WORK (raw results go to
$BENCH_WORK/raw/lambda_cold.jsonl when set), BENCH_IMAGE (the original,
default src/samples/dune.jpg, a 1600x1000 JPEG). Needs moto[server] (with
boto3) and cargo-lambda (.ci/run installs both). Loopback only; the function
gets static credentials and AWS_EC2_METADATA_DISABLED=true.
"""

import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/image-handler")
RUNS = int(os.environ.get("BENCH_LAMBDA_RUNS", "10"))
IMAGE = os.environ.get("BENCH_IMAGE", os.path.join(ROOT, "src/samples/dune.jpg"))
BUCKET = "lambda-cold"
SECRET_ID = "lambda-cold-signing"
SIGNING_SECRET = "cold-start-secret"
PATH = "/photo.jpg"
QUERY = {"width": "320", "format": "jpeg"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"lambda_cold: {what} did not start on port {port}")


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def start_moto():
    port = free_port()
    proc = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, "moto_server")
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ENV)
    import boto3  # moto[server] brings it

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    with open(IMAGE, "rb") as f:
        s3.put_object(Bucket=BUCKET, Key=PATH.lstrip("/"), Body=f.read())
    sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    sm.create_secret(Name=SECRET_ID, SecretString=json.dumps({"key": SIGNING_SECRET}))
    return proc, endpoint


def event(signed):
    with open(os.path.join(ROOT, "tests/fixtures/apigw-rest.json")) as f:
        ev = json.load(f)
    query = dict(QUERY)
    if signed:
        # SIH v7: HMAC-SHA256 over the path and the sorted other parameters.
        to_sign = PATH + "?" + "&".join(f"{k}={query[k]}" for k in sorted(query))
        query["signature"] = hmac.new(
            SIGNING_SECRET.encode(), to_sign.encode(), hashlib.sha256
        ).hexdigest()
    ev["path"] = PATH
    ev["resource"] = "/{proxy+}"
    ev["pathParameters"] = {"proxy": PATH.lstrip("/")}
    ev["queryStringParameters"] = query
    ev["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return json.dumps(ev).encode()


def invoke(port, body):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations",
        data=body,
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as res:
        answer = json.loads(res.read())
    if answer.get("statusCode") != 200:
        sys.exit(f"lambda_cold: the invocation answered {str(answer)[:300]}")
    return answer


def one_run(endpoint, signed):
    port = free_port()
    emulator = subprocess.Popen(
        ["cargo-lambda", "lambda", "watch", "--only-lambda-apis",
         "--invoke-address", "127.0.0.1", "--invoke-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, "cargo-lambda's emulator")
        env = {
            "PATH": os.environ["PATH"],
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
            "AWS_ENDPOINT_URL": endpoint,
            "SOURCE_BUCKETS": BUCKET,
            "LOG_LEVEL": "warn",
            **AWS_ENV,
        }
        if signed:
            env.update(ENABLE_SIGNATURE="Yes", SECRETS_MANAGER=SECRET_ID, SECRET_KEY="key")
        body = event(signed)
        started = time.perf_counter()
        function = subprocess.Popen(
            [BIN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            invoke(port, body)
            first = (time.perf_counter() - started) * 1000
            warm = []
            for _ in range(3):
                t = time.perf_counter()
                invoke(port, body)
                warm.append((time.perf_counter() - t) * 1000)
        finally:
            function.kill()
            function.wait()
    finally:
        emulator.kill()
        emulator.wait()
    return first, min(warm)


def main():
    if not os.path.exists(BIN):
        sys.exit(f"lambda_cold: build {BIN} first (cargo build --release --features heic)")
    moto, endpoint = start_moto()
    rows = []
    try:
        for case, signed in [("transform", False), ("transform, signed via Secrets Manager", True)]:
            one_run(endpoint, signed)  # a first run warms the page cache, not counted
            runs = [one_run(endpoint, signed) for _ in range(RUNS)]
            firsts = [f for f, _ in runs]
            warms = [w for _, w in runs]
            row = {
                "case": case,
                "runs": RUNS,
                "first_ms_median": round(statistics.median(firsts), 1),
                "first_ms_min": round(min(firsts), 1),
                "first_ms_max": round(max(firsts), 1),
                "warm_ms_median": round(statistics.median(warms), 1),
                "init_ms_median": round(statistics.median(f - w for f, w in runs), 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        moto.kill()
    work = os.environ.get("BENCH_WORK")
    if work:
        os.makedirs(os.path.join(work, "raw"), exist_ok=True)
        with open(os.path.join(work, "raw", "lambda_cold.jsonl"), "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    print()
    print("| case | exec → first answer (median, min–max) | warm | start-up | runs |")
    print("|---|--:|--:|--:|--:|")
    for r in rows:
        print(
            f"| {r['case']} | {r['first_ms_median']} ms ({r['first_ms_min']}–{r['first_ms_max']}) "
            f"| {r['warm_ms_median']} ms | {r['init_ms_median']} ms | {r['runs']} |"
        )


if __name__ == "__main__":
    main()
