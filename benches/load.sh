#!/usr/bin/env bash
# Load test of the release `serve` (opt-in: it loads every core for a minute
# and is not part of .ci/run). wrk (Debian's package) at concurrency 64 for
# 60 s over a mixed request set (benches/load.lua): small and large photos,
# JPEG/WebP/AVIF/PNG, cache-busting widths and a few intended 4xx. Prints
# answers by status (503s are backpressure), p50/p90/p99 latency and the
# server's peak resident memory (VmHWM).
#
#   LOAD_TEST=1 benches/load.sh
#
# Settings: DURATION (60s), CONNECTIONS (64), THREADS (2), and the server's
# own variables (TRANSFORM_CONCURRENCY, TRANSFORM_QUEUE_SIZE, ...) pass through.
set -euo pipefail
if [ "${LOAD_TEST:-}" != 1 ]; then
  echo "benches/load.sh: set LOAD_TEST=1 to run the load test (a minute of every core)" >&2
  exit 0
fi
cd "$(dirname "$0")/.."
duration=${DURATION:-60s}
connections=${CONNECTIONS:-64}
threads=${THREADS:-2}

if ! command -v wrk >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked --quiet --features heic
bin=target/release/image-handler

work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cp src/samples/*.jpg src/samples/*.png "$work/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() {
  LOG_LEVEL=image_handler=warn "$bin" serve --origin "$work" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "benches/load.sh: the server did not start" >&2
  cat "$work/server.log" >&2
  exit 1
}
# The large photo is made by the service itself: a sample upscaled to 4000 px.
start
curl -fsS -o "$work/large.jpg" "http://127.0.0.1:$port/dune.jpg?width=4000&format=jpeg&quality=90"
kill "$server"; wait "$server" 2>/dev/null || true
start
echo "load: $connections connections, $threads wrk threads, $duration; large.jpg $(stat -c %s "$work/large.jpg") bytes"
echo "server: TRANSFORM_CONCURRENCY=${TRANSFORM_CONCURRENCY:-<CPUs: $(nproc)>} TRANSFORM_QUEUE_SIZE=${TRANSFORM_QUEUE_SIZE:-<2048>} MAX_INFLIGHT_BYTES=${MAX_INFLIGHT_BYTES:-<a quarter of memory>}"
wrk -t"$threads" -c"$connections" -d"$duration" --timeout 30s --latency -s benches/load.lua "http://127.0.0.1:$port" | tee "$work/wrk.txt"
echo "PEAK_RSS $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$server/status")"
curl -fsS "http://127.0.0.1:$port/health" >/dev/null && echo "HEALTH ok after the run"
