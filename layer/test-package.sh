#!/usr/bin/env bash
# Runs the packaged bootstrap the way Lambda would, in an empty root: a
# directory holding only the two unzipped packages (/var/task, /opt), /tmp,
# and the C runtime libraries Lambda provides (libc, libm, libdl, libpthread,
# librt, libresolv, libgcc_s, libstdc++ and the loader, copied from this
# host). There it transforms a JPEG, a PNG, an AVIF and a HEIC (made here
# with libheif's heif-enc) read from S3 (moto's server) through the Lambda Runtime API (cargo-lambda's emulator), with API
# Gateway REST events. Nothing else from the build machine is reachable, so a
# missing library or file shows here rather than in AWS.
#
#   layer/test-package.sh [PACKAGE]   PACKAGE: layer/build.sh's output
#                                     (default target/lambda-package)
#
# Needs root (chroot), python3 with boto3 (moto[server]), cargo-lambda,
# heif-enc (apt-get install libheif-examples).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pkg=${1:-$here/target/lambda-package}
say() { echo "layer/test-package.sh: $*" >&2; }
die() { say "$*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root for chroot"
[ -f "$pkg/function.zip" ] && [ -f "$pkg/layer.zip" ] || die "no package in $pkg: run layer/build.sh first"
for tool in chroot unzip moto_server cargo-lambda python3 timeout heif-enc; do
  command -v "$tool" >/dev/null || die "$tool is needed"
done

work=$(mktemp -d)
root=$work/root
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

# --- the empty root ---------------------------------------------------------------
mkdir -p "$root/var/task" "$root/opt" "$root/tmp" "$root/lib64"
chmod 1777 "$root/tmp"
unzip -q "$pkg/function.zip" -d "$root/var/task"
unzip -q "$pkg/layer.zip" -d "$root/opt"
# Lambda's C runtime, from this host: whatever the two ELF files resolve to.
libs=$(LD_LIBRARY_PATH="$root/opt/lib" ldd "$root/var/task/bootstrap" "$root/opt/lib/"*.so* | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
[ -n "$libs" ] || die "ldd found no libraries"
for lib in $libs; do
  case "$lib" in "$root"/*) continue ;; esac
  case "$(basename "$lib")" in
    libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|librt.so.1|libresolv.so.2|libgcc_s.so.1|libstdc++.so.6|ld-linux-x86-64.so.2) ;;
    *) die "the package needs $lib from the build machine, which Lambda does not provide" ;;
  esac
  cp -L "$lib" "$root/lib64/"
done
say "the root holds:"
(cd "$root" && find . -type f | sort | sed 's/^/  /') >&2

# --- S3 (moto) and the runtime API (cargo-lambda) ---------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 300); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing listens on port $1 ($2)"
}
s3_port=$(free_port)
moto_server -H 127.0.0.1 -p "$s3_port" >"$work/moto.log" 2>&1 &
pids+=($!)
rt_port=$(free_port)
cargo-lambda lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$rt_port" >"$work/emulator.log" 2>&1 &
pids+=($!)
wait_port "$s3_port" moto_server
wait_port "$rt_port" "cargo lambda watch"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
bucket=package-test
python3 - "$s3_port" "$bucket" "$here/src/samples" <<'PY'
import sys, boto3
port, bucket, samples = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
s3.create_bucket(Bucket=bucket)
s3.upload_file(f"{samples}/dune.jpg", bucket, "photos/dune.jpg")
s3.upload_file(f"{samples}/alpha.png", bucket, "photos/alpha.png")
PY

# --- the function, chrooted, with Lambda's environment -----------------------------
env -i \
  PATH=/usr/local/bin:/usr/bin:/bin \
  LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib \
  LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime TZ=:UTC LANG=en_US.UTF-8 \
  AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$rt_port/.rt" \
  AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1769 \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" S3_FORCE_PATH_STYLE=Yes \
  SOURCE_BUCKETS=$bucket LAMBDA_INVOKE_MODE=BUFFERED \
  "$(command -v chroot)" "$root" /var/task/bootstrap >"$work/function.out" 2>"$work/function.err" &
pids+=($!)
function_pid=$!

invoke() { # path query file-for-the-response
  python3 - "$here/tests/fixtures/apigw-rest.json" "$1" "$2" >"$work/event.json" <<'PY'
import json, sys
event = json.load(open(sys.argv[1]))
path, query = sys.argv[2], sys.argv[3]
params = dict(p.split("=", 1) for p in query.split("&")) if query else None
event["path"] = event["requestContext"]["path"] = path
event["pathParameters"] = {"proxy": path.lstrip("/")}
event["queryStringParameters"] = params
event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()} if params else None
for h in ("headers", "multiValueHeaders"):
    for k in list(event[h]):
        if k.lower() == "accept":
            del event[h][k]
print(json.dumps(event))
PY
  kill -0 "$function_pid" 2>/dev/null || { cat "$work/function.err" >&2; die "the function is not running"; }
  timeout 120 cargo-lambda lambda invoke --invoke-address 127.0.0.1 --invoke-port "$rt_port" --data-file "$work/event.json" _ >"$3" \
    || { cat "$work/function.err" >&2; die "invoke $1?$2 failed"; }
  kill -0 "$function_pid" 2>/dev/null || { cat "$work/function.err" >&2; die "the function exited"; }
}

# check RESPONSE FORMAT WIDTH HEIGHT [save-as]
check() {
  python3 - "$@" <<'PY'
import base64, json, struct, sys
response, fmt, width, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(response))
assert r["statusCode"] == 200, r
assert r["isBase64Encoded"] is True, r
headers = {k.lower(): v for k, v in (r.get("headers") or {}).items()}
headers.update({k.lower(): v[-1] for k, v in (r.get("multiValueHeaders") or {}).items()})
assert headers["content-type"] == "image/" + fmt, headers
body = base64.b64decode(r["body"])
def size():
    if fmt == "jpeg":
        assert body[:3] == b"\xff\xd8\xff"
        i = 2
        while i < len(body):
            marker, length = body[i + 1], struct.unpack(">H", body[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", body[i + 5:i + 9])
                return w, h
            i += 2 + length
    if fmt == "png":
        assert body[:8] == b"\x89PNG\r\n\x1a\n"
        return struct.unpack(">II", body[16:24])
    if fmt == "avif":
        assert body[4:12] == b"ftypavif", body[:16]
        i = body.index(b"ispe")
        return struct.unpack(">II", body[i + 8:i + 16])
    if fmt == "webp":
        assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
        if body[12:16] == b"VP8X":
            w = 1 + int.from_bytes(body[24:27], "little"); h = 1 + int.from_bytes(body[27:30], "little")
            return w, h
        if body[12:16] == b"VP8L":
            b = int.from_bytes(body[21:25], "little")
            return 1 + (b & 0x3FFF), 1 + ((b >> 14) & 0x3FFF)
        return tuple(v & 0x3FFF for v in struct.unpack("<HH", body[26:30]))
    raise AssertionError("unknown format " + fmt)
got = size()
assert got == (width, height), f"{fmt} is {got}, expected {(width, height)}"
if len(sys.argv) > 5:
    open(sys.argv[5], "wb").write(body)
print(f"  {fmt} {got[0]}x{got[1]}, {len(body)} bytes")
PY
}

say "JPEG -> AVIF"
invoke /photos/dune.jpg "width=320&format=avif" "$work/r1.json"
check "$work/r1.json" avif 320 200 "$work/dune.avif"
say "PNG (with alpha) -> PNG"
invoke /photos/alpha.png "width=100" "$work/r2.json"
check "$work/r2.json" png 100 100
say "AVIF (made above) -> JPEG and WebP"
python3 -c "
import boto3,sys; boto3.client('s3', endpoint_url='http://127.0.0.1:$s3_port', region_name='us-east-1').upload_file('$work/dune.avif', '$bucket', 'photos/dune.avif')"
invoke /photos/dune.avif "width=160&format=jpeg" "$work/r3.json"
check "$work/r3.json" jpeg 160 100
invoke /photos/dune.avif "width=80&format=webp" "$work/r4.json"
check "$work/r4.json" webp 80 50
say "HEIC (HEVC, decoded by the layer's libheif/libde265) -> JPEG and PNG"
heif-enc -q 80 -o "$work/dune.heic" "$here/src/samples/dune.jpg" >/dev/null
python3 -c "
import boto3,sys; boto3.client('s3', endpoint_url='http://127.0.0.1:$s3_port', region_name='us-east-1').upload_file('$work/dune.heic', '$bucket', 'photos/dune.heic')"
invoke /photos/dune.heic "width=320" "$work/r6.json"
check "$work/r6.json" jpeg 320 200
invoke /photos/dune.heic "width=80&format=png" "$work/r7.json"
check "$work/r7.json" png 80 50
say "a missing key is 404 NoSuchKey"
invoke /photos/none.jpg "" "$work/r5.json"
python3 -c "
import json; r=json.load(open('$work/r5.json')); assert r['statusCode']==404, r; assert json.loads(r['body'])['code']=='NoSuchKey', r"
echo "layer/test-package.sh: 7 passed, 0 failed"
