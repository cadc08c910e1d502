#!/usr/bin/env bash
# Builds the Lambda deployment package: the function zip (bootstrap, linked
# with an rpath to /opt/lib) and the layer zip (libvips and the HEIC decoder's
# libheif with its codec libraries under lib/, with their licences), checks that nothing in them needs more than Amazon Linux 2023
# (provided.al2023, x86_64) provides, and reports their sizes.
#
#   layer/build.sh [OUT]        OUT defaults to target/lambda-package
#
# Works offline once libvips is in .libvips/ (any cargo build fetches it) and
# the crates are in cargo's cache. The build uses cargo-lambda with zig
# (pip install cargo-lambda ziglang) to link against glibc 2.28, the floor
# libvips itself needs; IMAGE_HANDLER_BUILDER=cargo uses plain cargo instead,
# which is fine whenever the check below passes. The zips are byte-for-byte
# reproducible for a given bootstrap: fixed order, permissions and times
# (SOURCE_DATE_EPOCH, by default the last commit's time).
#
# OUT gets function.zip, layer.zip, keys.env (FUNCTION_ZIP_KEY and
# LAYER_ZIP_KEY, content-addressed S3 keys for the template's parameters) and
# the unzipped trees function/ and layer/ that layer/test-package.sh runs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

PKG_VERSION=1.3.4
VIPS_SO=libvips-cpp.so.8.18.7
TARGET=x86_64-unknown-linux-gnu
GLIBC_PIN=2.28
# What provided.al2023 provides: glibc 2.34 and GCC 11's runtime libraries.
MAX_GLIBC=2.34
MAX_GLIBCXX=3.4.29
MAX_CXXABI=1.3.13
MAX_GCC=11
LAMBDA_LIBS="libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libresolv.so.2 libgcc_s.so.1 libstdc++.so.6 ld-linux-x86-64.so.2"
UNZIPPED_LIMIT=262144000   # Lambda: function and layers together, unzipped
# The HEIC decoder (src/transform/decoders.rs) links this machine's libheif
# (Debian bookworm: libheif1 1.15 with libde265). Debian builds its codecs in,
# so every library it names in DT_NEEDED must ship, encoders included: x265
# (and libnuma), dav1d and aom are loaded whenever libheif is. They are
# copied from wherever the dynamic loader finds them here, with the Debian
# copyright file of the package each comes from.
HEIF_LIBS="libheif.so.1 libde265.so.0 libx265.so.199 libnuma.so.1 libdav1d.so.6 libaom.so.3 libz.so.1"

out=${1:-$here/target/lambda-package}
libvips=${IMAGE_HANDLER_LIBVIPS_DIR:-$here/.libvips/$PKG_VERSION}
builder=${IMAGE_HANDLER_BUILDER:-cargo-lambda}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 315532800)}

say() { echo "layer/build.sh: $*" >&2; }
die() { say "$*"; exit 1; }
for tool in readelf objdump zip unzip sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is needed (apt-get install binutils zip unzip coreutils)"
done
pkg-config --exists 'libheif >= 1.14' 2>/dev/null || die "libheif is needed (apt-get install libheif-dev pkg-config)"
system_lib() { # soname -> the path the dynamic loader resolves it to
  /sbin/ldconfig -p | awk -v so="$1" '$1 == so && $0 ~ /x86-64/ {print $NF; exit}'
}
debian_package() { # library path -> the Debian package that ships it (merged /usr aware)
  local real candidate pkg
  real=$(readlink -f "$1")
  for candidate in "$1" "$real" "${real#/usr}" "/usr${real#/usr}"; do
    pkg=$(dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1 || true)
    [ -n "$pkg" ] && { echo "$pkg"; return 0; }
  done
}

bash layer/fetch-libvips.sh "$libvips"
[ -f "$libvips/lib/$VIPS_SO" ] || die "no $libvips/lib/$VIPS_SO"

# --- build bootstrap ---------------------------------------------------------
# A target directory of its own: the /opt/lib rpath must not leak into the
# developer's target/release, and builds for the two rpaths do not undo each other.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target/lambda-build}
export IMAGE_HANDLER_RPATH=/opt/lib
export IMAGE_HANDLER_LIBVIPS_DIR=$libvips
# reproducible paths in panic messages and debug info
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$here=/build --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
# zig's linker searches no system directory: show it libheif alone, so that
# nothing else of this machine's /usr/lib can be linked by accident.
heif_link=$CARGO_TARGET_DIR/heif-link
mkdir -p "$heif_link"
ln -sfn "$(system_lib libheif.so.1)" "$heif_link/libheif.so"
export RUSTFLAGS="$RUSTFLAGS -L native=$heif_link"
case "$builder" in
  cargo-lambda)
    command -v cargo-lambda >/dev/null || die "cargo-lambda is needed (pip install cargo-lambda ziglang), or IMAGE_HANDLER_BUILDER=cargo"
    say "cargo lambda build --release --features heic --target $TARGET.$GLIBC_PIN"
    cargo lambda build --release --locked --features heic --target "$TARGET.$GLIBC_PIN" --bin image-handler >&2
    bootstrap=$CARGO_TARGET_DIR/lambda/image-handler/bootstrap
    ;;
  cargo)
    say "cargo build --release --features heic --target $TARGET"
    cargo build --release --locked --features heic --target "$TARGET" --bin image-handler >&2
    bootstrap=$CARGO_TARGET_DIR/$TARGET/release/image-handler
    strip_needed=1
    ;;
  *) die "IMAGE_HANDLER_BUILDER must be cargo-lambda or cargo" ;;
esac
[ -x "$bootstrap" ] || die "the build left no $bootstrap"

# --- stage the two trees -----------------------------------------------------
rm -rf "$out"
mkdir -p "$out/function" "$out/layer/lib" "$out/layer/licenses/libvips"
cp "$bootstrap" "$out/function/bootstrap"
[ -n "${strip_needed:-}" ] && strip "$out/function/bootstrap"
# The InvalidateOnOverwrite custom resource runs from the same zip (python3.12).
cp cloudformation/bucket_notifications.py "$out/function/"
cp "$libvips/lib/$VIPS_SO" "$out/layer/lib/"
cp layer/licenses/* "$out/layer/licenses/libvips/"
cp "$libvips/versions.json" "$out/layer/licenses/libvips/versions.json"
mkdir -p "$out/layer/licenses/heif"
cp layer/licenses-heif/NOTICE "$out/layer/licenses/heif/NOTICE"
: >"$out/layer/licenses/heif/versions.txt"
for so in $HEIF_LIBS; do
  path=$(system_lib "$so")
  [ -n "$path" ] && [ -f "$path" ] || die "no $so on this machine (apt-get install libheif-dev)"
  cp -L "$path" "$out/layer/lib/$so"
  pkg=$(debian_package "$path")
  [ -n "$pkg" ] && [ -f "/usr/share/doc/$pkg/copyright" ] \
    || die "cannot tell which Debian package ships $path, so its licence cannot ship with it"
  cp "/usr/share/doc/$pkg/copyright" "$out/layer/licenses/heif/$pkg.copyright"
  echo "lib/$so  Debian package $pkg $(dpkg-query -W -f='${Version}' "$pkg")" >>"$out/layer/licenses/heif/versions.txt"
done
for text in GPL-2 LGPL-2.1; do
  cp "/usr/share/common-licenses/$text" "$out/layer/licenses/heif/$text.txt"
done
chmod 755 "$out/function/bootstrap"
find "$out/function" "$out/layer" -type d -exec chmod 755 {} +
find "$out/function" "$out/layer" -type f ! -name bootstrap -exec chmod 644 {} +

# --- check what the ELF files need -------------------------------------------
problems=0
problem() { say "PROBLEM: $*"; problems=$((problems + 1)); }
newest() { { grep -oE "$1_[0-9]+(\.[0-9]+)*" || true; } | sed "s/^$1_//" | sort -uV | tail -1; }
newer() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" != "$2" ]; } # is $1 > $2
layer_libs=$(cd "$out/layer/lib" && ls | tr "\n" " ")
for elf in "$out/function/bootstrap" "$out/layer/lib/"*.so*; do
  name=${elf#"$out/"}
  readelf -h "$elf" | grep -q 'Machine:.*X86-64' || problem "$name is not x86-64"
  versions=$(objdump -T "$elf")
  glibc=$(newest GLIBC <<<"$versions")
  glibcxx=$(newest GLIBCXX <<<"$versions")
  cxxabi=$(newest CXXABI <<<"$versions")
  gcc=$(newest GCC <<<"$versions")
  say "$name needs glibc ${glibc:-none}, GLIBCXX ${glibcxx:-none}, CXXABI ${cxxabi:-none}, libgcc GCC_${gcc:-none}"
  [ -n "$glibc" ] && newer "$glibc" "$MAX_GLIBC" && problem "$name needs glibc $glibc > $MAX_GLIBC (Amazon Linux 2023)"
  [ -n "$glibcxx" ] && newer "$glibcxx" "$MAX_GLIBCXX" && problem "$name needs GLIBCXX_$glibcxx > $MAX_GLIBCXX (GCC 11)"
  [ -n "$cxxabi" ] && newer "$cxxabi" "$MAX_CXXABI" && problem "$name needs CXXABI_$cxxabi > $MAX_CXXABI (GCC 11)"
  [ -n "$gcc" ] && newer "$gcc" "$MAX_GCC" && problem "$name needs GCC_$gcc > $MAX_GCC"
  for lib in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case " $LAMBDA_LIBS $layer_libs " in
      *" $lib "*) ;;
      *) problem "$name needs $lib, which neither Lambda nor the layer provides" ;;
    esac
  done
done
runpath=$(readelf -d "$out/function/bootstrap" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
[ "$runpath" = /opt/lib ] || problem "bootstrap's RUNPATH is '$runpath', not /opt/lib"
# ldd resolves every library with the layer where Lambda puts it
missing=$(LD_LIBRARY_PATH="$out/layer/lib" ldd "$out/function/bootstrap" | grep 'not found' || true)
[ -z "$missing" ] || problem "ldd: $missing"
[ "$problems" -eq 0 ] || die "$problems problem(s); the package would not run on provided.al2023"

# --- zip ---------------------------------------------------------------------
reproducible_zip() { # dir zip
  local dir=$1 zipfile=$2
  find "$dir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  (cd "$dir" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | TZ=UTC zip -q -X -D -9 "$zipfile" -@)
}
reproducible_zip "$out/function" "$out/function.zip"
reproducible_zip "$out/layer" "$out/layer.zip"

unzipped=$(( $(du -sb --apparent-size "$out/function" | cut -f1) + $(du -sb --apparent-size "$out/layer" | cut -f1) ))
[ "$unzipped" -le "$UNZIPPED_LIMIT" ] || die "function and layer unzip to $unzipped bytes, over Lambda's $UNZIPPED_LIMIT"
fsum=$(sha256sum "$out/function.zip" | cut -c1-16)
lsum=$(sha256sum "$out/layer.zip" | cut -c1-16)
cat >"$out/keys.env" <<KEYS
FUNCTION_ZIP_KEY=image-handler/function-$fsum.zip
LAYER_ZIP_KEY=image-handler/layer-$lsum.zip
KEYS
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
echo "function.zip  $(mb "$(stat -c %s "$out/function.zip")") zipped, $(mb "$(du -sb --apparent-size "$out/function" | cut -f1)") unzipped, sha256 $(sha256sum "$out/function.zip" | cut -d' ' -f1)"
echo "layer.zip     $(mb "$(stat -c %s "$out/layer.zip")") zipped, $(mb "$(du -sb --apparent-size "$out/layer" | cut -f1)") unzipped, sha256 $(sha256sum "$out/layer.zip" | cut -d' ' -f1)"
echo "together      $(mb "$unzipped") unzipped of Lambda's $(mb $UNZIPPED_LIMIT)"
echo "keys          $out/keys.env"
