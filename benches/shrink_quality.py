#!/usr/bin/env python3
"""What shrink-on-load costs in quality: PSNR of each server's output
against a full-decode Lanczos resize of the original (Pillow, no draft mode).

Starts our `serve` (FAST_SHRINK_ON_LOAD from FAST, default No), ipx and
thumbor as http_bench.py does, asks each for the same JPEG q80 resizes of the
corpus, and prints one line per server and case. Needs the corpus, peers and
thumbor's venv that benches/run.sh prepares; run it with that venv's Python,
which has Pillow:

  BENCH_OURS_BIN=target/release/image-handler \\
    benches/.work/thumbor-venv/bin/python benches/shrink_quality.py
  FAST=Yes ...   # ours with FAST_SHRINK_ON_LOAD=Yes
"""

import http.client
import io
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_bench as h  # noqa: E402
from PIL import Image  # noqa: E402

CASES = [("big.jpg", 800), ("photo.jpg", 800), ("photo.jpg", 320)]


def fetch(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def psnr(a, b):
    a, b = a.tobytes(), b.tobytes()
    mse = sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)
    return 10 * math.log10(255 * 255 / mse)


def main():
    fast = {"FAST_SHRINK_ON_LOAD": os.environ.get("FAST", "No")}
    procs = {s: h.start(s, fast if s == "ours" else None)[0] for s in ("ours", "ipx", "thumbor")}
    try:
        for name, width in CASES:
            src = Image.open(os.path.join(h.CORPUS, name)).convert("RGB")
            ref = src.resize((width, round(src.height * width / src.width)), Image.LANCZOS)
            paths = {
                "ours": f"/{name}?width={width}&format=jpeg",
                "ipx": f"/w_{width},f_jpeg,q_80/{name}",
                "thumbor": f"/unsafe/{width}x0/filters:format(jpeg):quality(80)/{name}",
            }
            for server, path in paths.items():
                status, body = fetch(h.PORTS[server], path)
                if status != 200:
                    raise SystemExit(f"{server}: {path} gave {status}")
                out = Image.open(io.BytesIO(body)).convert("RGB")
                print(f"{name} to {width}: {server:8s} {len(body):7d} bytes  "
                      f"PSNR {psnr(out.resize(ref.size), ref):.2f} dB")
    finally:
        for p in procs.values():
            h.stop(p)


if __name__ == "__main__":
    main()
