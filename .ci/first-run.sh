#!/usr/bin/env bash
# The README's first run as a new user has it: Rust and a C toolchain, but no
# npm, no pkg-config and no libheif. Checks that
#   - layer/fetch-libvips.sh gets the same libvips without npm (plain HTTPS
#     from the registry npm would use), and refuses a tarball that does not
#     match its pin;
#   - the build goes on without the `heic` feature, with one cargo warning
#     naming the package that would enable it;
#   - the binary serves the embedded samples, answers a HEIC original with the
#     documented 400, and says in /health that it has no HEIC decoder.
# Run by .ci/run after the tests (the build reuses their compiled crates).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "first-run: $*" >&2; exit 1; }
say() { echo "first-run: $*" >&2; }

# --- a PATH without npm and pkg-config --------------------------------------
# Each PATH directory holding one of them is replaced by a directory of links
# to everything else it holds.
hidden=" npm npx pkg-config pkgconf "
scrubbed=""
n=0
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] || continue
  holds=0
  for tool in $hidden; do [ -e "$dir/$tool" ] && holds=1; done
  if [ "$holds" = 1 ]; then
    shadow="$work/path$n"
    n=$((n + 1))
    mkdir -p "$shadow"
    for f in "$dir"/*; do
      name=${f##*/}
      case "$hidden" in *" $name "*) continue ;; esac
      ln -s "$f" "$shadow/$name"
    done
    dir=$shadow
  fi
  scrubbed="${scrubbed:+$scrubbed:}$dir"
done
bare() { env PATH="$scrubbed" PKG_CONFIG_PATH=/nonexistent PKG_CONFIG_LIBDIR=/nonexistent "$@"; }
if bare bash -c 'command -v npm || command -v pkg-config' >/dev/null; then
  fail "npm or pkg-config is still on the scrubbed PATH"
fi

# --- libvips without npm -----------------------------------------------------
say "fetching libvips without npm"
bare bash layer/fetch-libvips.sh "$work/libvips"
bash layer/fetch-libvips.sh # the copy the build uses, however it was fetched
cmp -s "$work/libvips/lib/libvips-cpp.so.8.18.7" .libvips/1.3.4/lib/libvips-cpp.so.8.18.7 ||
  fail "libvips fetched without npm differs from the pinned one"

say "a registry serving other bytes is refused"
mkdir -p "$work/registry/@img/sharp-libvips-linux-x64/-" "$work/registry/@img/sharp-libvips-dev/-"
head -c 4096 /dev/urandom >"$work/registry/@img/sharp-libvips-linux-x64/-/sharp-libvips-linux-x64-1.3.4.tgz"
head -c 4096 /dev/urandom >"$work/registry/@img/sharp-libvips-dev/-/sharp-libvips-dev-1.3.4.tgz"
python3 - "$work/registry" "$work/registry.port" <<'EOF' &
import functools, http.server, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
open(sys.argv[2], "w").write(str(server.server_port))
server.serve_forever()
EOF
pids+=($!)
for _ in $(seq 50); do [ -s "$work/registry.port" ] && break; sleep 0.1; done
if bare env npm_config_registry="http://127.0.0.1:$(cat "$work/registry.port")/" \
  bash layer/fetch-libvips.sh "$work/tampered" 2>"$work/tampered.log"; then
  fail "a tarball that does not match the pin was accepted"
fi
grep -q "integrity mismatch" "$work/tampered.log" || fail "no integrity message: $(cat "$work/tampered.log")"
[ ! -e "$work/tampered" ] || fail "a refused tarball was unpacked"

# --- the build without libheif -----------------------------------------------
say "building without npm, pkg-config and libheif"
bare env IMAGE_HANDLER_LIBVIPS_DIR="$work/libvips" \
  cargo build --locked --bin image-handler 2>"$work/build.log" ||
  { cat "$work/build.log" >&2; fail "the build failed"; }
warnings=$(grep -c "^warning: image-handler@" "$work/build.log" || true)
[ "$warnings" = 1 ] || { cat "$work/build.log" >&2; fail "expected one build warning, got $warnings"; }
grep -q "install libheif-dev" "$work/build.log" || fail "the warning does not name libheif-dev"
bin=$work/image-handler
cp target/debug/image-handler "$bin"

# --- it serves ---------------------------------------------------------------
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
serve() { # port [args...]
  local p=$1
  shift
  bare env -u IMAGE_ORIGIN -u SIGNATURE_SECRET -u SIGNATURE_KEYS "$bin" serve --listen "127.0.0.1:$p" --playground false "$@" \
    >"$work/serve-$p.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$p/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$work/serve-$p.log" >&2
  fail "serve did not start"
}
status() { curl -s -o "$2" -w '%{http_code} %{content_type}' "$1"; }

p=$(port)
serve "$p"
got=$(status "http://127.0.0.1:$p/dune.jpg?width=120&format=jpeg" "$work/dune.jpg")
[ "$got" = "200 image/jpeg" ] || fail "the embedded sample answered $got"
[ "$(head -c 3 "$work/dune.jpg" | od -An -tx1 | tr -d ' ')" = "ffd8ff" ] || fail "not a JPEG"
curl -fs "http://127.0.0.1:$p/health" >"$work/health.json"
python3 - "$work/health.json" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] == "ok" and h["decoders"] == {"heic": False, "jxl": True}, h
EOF

mkdir -p "$work/originals"
cp tests/fixtures/first-run/photo.heic "$work/originals/"
p=$(port)
serve "$p" --origin "$work/originals"
got=$(status "http://127.0.0.1:$p/photo.heic?width=32" "$work/heic.json")
[ "$got" = "400 application/json" ] || fail "a HEIC original answered $got"
python3 - "$work/heic.json" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
assert e["status"] == 400 and e["code"] == "UnsupportedImageFormat", e
assert "no HEIC/HEIF decoder" in e["message"] and "--features heic" in e["message"], e
EOF
say "ok: libvips without npm, a build without libheif, samples served, HEIC refused with 400"
