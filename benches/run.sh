#!/usr/bin/env bash
# The side-by-side benchmark (issue 9): image-handler against sharp, the
# libvips floor, ipx and thumbor, in one run on one machine. See
# benches/README.md for what it measures and how to read it.
#
#   benches/run.sh
#
# Prepares everything it needs into the git-ignored benches/.work/ (the
# corpus from Debian's plasma-workspace-wallpapers, sharp and ipx with npm ci,
# thumbor in a venv), builds our release binary and the in-process bench, runs
# every measurement, and writes benches/results/RESULTS.md and chart.png.
# Settings (environment):
#   BENCH_ITERS=8        timed iterations per case and round (in process)
#   BENCH_ROUNDS=3       rounds, alternating ours/floor and sharp
#   BENCH_HTTP_SECS=10   seconds per wrk run
#   BENCH_HTTP_PASSES=2  passes over the servers and concurrencies (medians)
#   BENCH_COLD_RUNS=5    cold starts per server
#   BENCH_SKIP=list      skip steps: inproc,fast,cpu1,rss,quality,bytes,http,variants,cold,lambda
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=${BENCH_WORK:-$here/.work}
raw=$work/raw
corpus=$work/corpus
results=$here/results
iters=${BENCH_ITERS:-8}
rounds=${BENCH_ROUNDS:-3}
skip=",${BENCH_SKIP:-},"
export BENCH_WORK=$work BENCH_CORPUS=$corpus
log() { printf '\n== %s  [%s, load %s]\n' "$*" "$(date -u +%H:%M:%S)" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2; }
want() { [[ $skip != *",$1,"* ]]; }
# A failed step is reported and the run goes on, so the other results survive.
step() { "$@" || echo "run.sh: step failed: $*" | tee -a "$raw/failures.txt" >&2; }

# --- tools -------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v taskset >/dev/null || need+=(util-linux)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ -f /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ] || need+=(libjemalloc2)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# What building image-handler needs (as in .ci/run): a C toolchain, openssl
# (checks the fetched libvips), libheif with pkg-config.
command -v cc >/dev/null || need+=(build-essential)
command -v openssl >/dev/null || need+=(openssl)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists 'libheif >= 1.14' 2>/dev/null || need+=(libheif-dev)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "run.sh: cargo is needed (https://rustup.rs)" >&2; exit 1; }

# --- peers ---------------------------------------------------------------------
if [ ! -f "$here/peers/node_modules/.package-lock.json" ] ||
  [ "$here/peers/package-lock.json" -nt "$here/peers/node_modules/.package-lock.json" ]; then
  log "sharp and ipx (npm ci)"
  (cd "$here/peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
THUMBOR_VERSION=7.8.0
if ! "$work/thumbor-venv/bin/thumbor" --version 2>/dev/null | grep -q "$THUMBOR_VERSION"; then
  log "thumbor $THUMBOR_VERSION (venv)"
  python3 -m venv "$work/thumbor-venv"
  "$work/thumbor-venv/bin/pip" install -q "thumbor==$THUMBOR_VERSION"
fi

# --- corpus --------------------------------------------------------------------
if [ ! -f "$corpus/anim.gif" ]; then
  log "corpus: plasma-workspace-wallpapers"
  rm -rf "$work/deb" && mkdir -p "$work/deb" "$corpus"
  (cd "$work/deb" && apt-get download plasma-workspace-wallpapers 2>/dev/null ||
    { apt-get update -qq && apt-get download plasma-workspace-wallpapers; })
  dpkg-deb -x "$work"/deb/plasma-workspace-wallpapers_*.deb "$work/deb/x"
  w=$work/deb/x/usr/share/wallpapers
  cp "$w/ColorfulCups/contents/images/2560x1600.jpg" "$corpus/photo.jpg"
  cp "$w/Autumn/contents/images/2560x1600.jpg" "$corpus/autumn.jpg"
  cp "$w/Kite/contents/images/2560x1600.jpg" "$corpus/kite.jpg"
  cp "$w/BytheWater/contents/images/2560x1600.jpg" "$corpus/water.jpg"
  cp "$w/Canopee/contents/images/3840x2160.png" "$corpus/uhd.png"
  cp "$w/Elarun/contents/images/2560x1600.png" "$corpus/alpha.png"
  node "$here/peers/make-corpus.js" "$corpus"
  rm -rf "$work/deb"
fi

# --- build ---------------------------------------------------------------------
# One cargo command for both: `cargo bench` builds the binary too, with the
# same features (a separate `cargo build --bin` would rebuild many crates).
log "building (release)"
(cd "$repo" && cargo bench --features heic --bench pipeline --no-run)
ours=$repo/target/release/image-handler
bench=$(cd "$repo" && cargo bench --features heic --bench pipeline --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "pipeline" and m.get("executable"):
        print(m["executable"])')
[ -x "$bench" ] || { echo "run.sh: the pipeline bench did not build" >&2; exit 1; }
export BENCH_OURS_BIN=$ours

# --- measure -------------------------------------------------------------------
rm -rf "$raw" && mkdir -p "$raw" "$results"
sharp_version=$(cd "$here/peers" && node -p 'require("sharp").versions.sharp')
vips_version=$(cd "$here/peers" && node -p 'require("sharp").versions.vips')
ipx_version=$(cd "$here/peers" && node -p 'require("./node_modules/ipx/package.json").version')
cat >"$raw/env.json" <<EOF
{"started": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "load_start": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "cpus": $(nproc), "cpu_model": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)",
 "kernel": "$(uname -r)", "mem_mb": $(($(grep MemTotal /proc/meminfo | awk '{print $2}') / 1024)),
 "iters": $iters, "rounds": $rounds, "http_secs": ${BENCH_HTTP_SECS:-10}, "http_passes": ${BENCH_HTTP_PASSES:-2},
 "ours": "$("$ours" --version | cut -d' ' -f2) ($(cd "$repo" && git rev-parse --short HEAD)$(cd "$repo" && git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo '+dirty'))",
 "rustc": "$(rustc --version | cut -d' ' -f2)", "sharp": "$sharp_version", "libvips": "$vips_version",
 "ipx": "$ipx_version", "thumbor": "$THUMBOR_VERSION", "node": "$(node --version)", "wrk": "$(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"}
EOF

if want inproc; then
  for round in $(seq 1 "$rounds"); do
    # Alternate who goes first, so drift in the machine's load hits both.
    if [ $((round % 2)) -eq 1 ]; then
      log "in process, round $round/$rounds: ours and floor"; step "$bench" time "$iters" >>"$raw/inproc.jsonl"
      log "in process, round $round/$rounds: sharp"; step node "$here/peers/sharp-bench.js" time "$here/cases.json" "$corpus" "$iters" >>"$raw/inproc.jsonl"
    else
      log "in process, round $round/$rounds: sharp"; step node "$here/peers/sharp-bench.js" time "$here/cases.json" "$corpus" "$iters" >>"$raw/inproc.jsonl"
      log "in process, round $round/$rounds: ours and floor"; step "$bench" time "$iters" >>"$raw/inproc.jsonl"
    fi
  done
fi
if want fast; then
  # sharp's default shrink-on-load against our FAST_SHRINK_ON_LOAD (the same trade).
  log "in process: sharp's fastShrinkOnLoad and our FAST_SHRINK_ON_LOAD"
  step env FAST_SHRINK_ON_LOAD=Yes "$bench" time "$iters" >>"$raw/inproc.jsonl"
  step env BENCH_SHARP_FAST=1 node "$here/peers/sharp-bench.js" time "$here/cases.json" "$corpus" "$iters" >>"$raw/inproc.jsonl"
fi
if want cpu1; then
  # One vCPU, as Lambda gives at 1769 MB: pinned to one core, one libvips thread.
  log "in process on one CPU (Lambda duration curve)"
  step env VIPS_CONCURRENCY=1 taskset -c 0 "$bench" time "$iters" >>"$raw/inproc-1cpu.jsonl"
fi
if want rss; then
  log "peak RSS per case"
  python3 -c 'import json,sys; [print(c["name"]) for c in json.load(open(sys.argv[1]))["cases"]]' "$here/cases.json" |
    while read -r name; do
      step "$bench" rss "$name" >>"$raw/rss.jsonl"
      step node "$here/peers/sharp-bench.js" rss "$here/cases.json" "$corpus" "$name" >>"$raw/rss.jsonl"
    done
fi
if want quality; then
  log "encoder trade-offs (bytes, PSNR, SSIM)"
  step "$bench" quality >>"$raw/quality.jsonl"
fi
if want bytes; then
  log "bytes at equal quality: fixed, quality=auto, format=best, SIH (sharp)"
  step node "$here/peers/sih-bytes.js" "$corpus" "$work/sih" photo.jpg,autumn.jpg,kite.jpg,water.jpg,uhd.png,alpha.png 320,800,1600
  step env BENCH_SIH_DIR="$work/sih" "$bench" bytes >"$raw/bytes.jsonl"
fi
if want http; then
  log "HTTP throughput: ours, ipx, thumbor"
  step python3 "$here/http_bench.py" throughput
fi
if want variants; then
  log "our server: libvips threads and allocators"
  step python3 "$here/http_bench.py" variants
fi
if want cold; then
  log "cold start"
  step python3 "$here/http_bench.py" cold
fi
if want lambda; then
  # Needs moto[server] and cargo-lambda (.ci/run installs both).
  log "Lambda cold start (cargo-lambda's runtime emulator, moto)"
  step python3 "$here/lambda_cold.py" "$repo/target/release/image-handler"
fi
python3 - "$raw/env.json" <<'EOF'
import json, sys, time
p = sys.argv[1]; e = json.load(open(p))
e["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
e["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])
json.dump(e, open(p, "w"), indent=1)
EOF

# --- report --------------------------------------------------------------------
log "writing benches/results"
cargo run --release --quiet --manifest-path "$here/report/Cargo.toml" -- "$raw" "$results"
cp "$raw"/*.json* "$results/raw/" 2>/dev/null || { mkdir -p "$results/raw" && cp "$raw"/*.json* "$results/raw/"; }
echo "benches/results/RESULTS.md and chart.png written" >&2
