#!/usr/bin/env bash
# Runs every fuzz target in turn for SECONDS each (default 600), at the
# lowest CPU priority, then minimises each corpus. Needs a nightly toolchain
# (`rustup toolchain install nightly`) and `cargo install cargo-fuzz`, and
# libvips fetched by a build of the main crate (`cargo build` at the root).
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Logs go to fuzz/logs/<target>.log; findings to fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(query base64_json thumbor rewrite signature decode svg)
mkdir -p logs
export VIPS_CONCURRENCY=1
# glib and libvips keep allocations for the process lifetime: not leaks of ours
export ASAN_OPTIONS=detect_leaks=0
status=0
for t in "${targets[@]}"; do
  extra=(-timeout=10 -rss_limit_mb=2048)
  # the decode target: small inputs, tight time and memory
  [ "$t" = decode ] && extra=(-timeout=5 -rss_limit_mb=1024 -max_len=65536)
  # the svg target: documents up to 64 KiB (room for embedded rasters), with markup tokens
  [ "$t" = svg ] && extra=(-timeout=5 -rss_limit_mb=1024 -max_len=65536 -dict=svg.dict)
  echo "fuzz: $t for ${seconds}s" >&2
  nice -n 19 cargo +nightly fuzz run "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 "${extra[@]}" >"logs/$t.log" 2>&1 || status=1
  tail -n 20 "logs/$t.log" | grep -E "^(stat::|Done|#[0-9]+ *DONE)|SUMMARY|panicked|deadly signal" >&2 || true
done
exit $status
