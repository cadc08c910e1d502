#!/usr/bin/env bash
# Fetch the prebuilt libvips that sharp's maintainers publish on npm, at a
# pinned version, verify it, and unpack it into DEST (default: .libvips/<ver>
# beside this repo's Cargo.toml). The same shared library is what the Lambda
# layer ships.
#
#   layer/fetch-libvips.sh [DEST]
#
# DEST gets lib/libvips-cpp.so.<vips>, include/ (headers), versions.json and
# link/ (libvips.so, libglib-2.0.so, libgobject-2.0.so symlinks to the one .so,
# the names the rs-vips binding links against).
set -euo pipefail

PKG_VERSION=1.3.4          # npm version of @img/sharp-libvips-*
VIPS_VERSION=8.18.7        # libvips inside it
LIB_SHA512='GJ//SSXbnwSDes02umB3nDJLFcQzw8a18V8fyhqr6tV515tOEMdImjjxj1AoafMRz56F3PHgftnj1QEKSU1zkw=='
DEV_SHA512='s1VIq6p83pWGi1hk7VLdfRiI6DUolGYqbpCNu4zdEIbKjlbdR9zHFpIiY6wQtnbn5jSfu9+E/PSC26tkONer2Q=='

here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/.libvips/$PKG_VERSION}
so="libvips-cpp.so.$VIPS_VERSION"

if [ -f "$dest/lib/$so" ] && [ -L "$dest/link/libvips.so" ]; then
  exit 0
fi
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  *) echo "fetch-libvips: only linux x86_64 is pinned here; use the system libvips build (README)" >&2; exit 1 ;;
esac
for tool in npm openssl tar; do
  command -v "$tool" >/dev/null || { echo "fetch-libvips: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-libvips: fetching @img/sharp-libvips-linux-$arch@$PKG_VERSION and @img/sharp-libvips-dev@$PKG_VERSION" >&2
(cd "$work" && npm pack --silent "@img/sharp-libvips-linux-$arch@$PKG_VERSION" "@img/sharp-libvips-dev@$PKG_VERSION" >/dev/null)

check() { # file expected-sha512-base64
  local got
  got=$(openssl dgst -sha512 -binary "$1" | base64 -w0)
  [ "$got" = "$2" ] || { echo "fetch-libvips: integrity mismatch for $1" >&2; exit 1; }
}
check "$work/img-sharp-libvips-linux-$arch-$PKG_VERSION.tgz" "$LIB_SHA512"
check "$work/img-sharp-libvips-dev-$PKG_VERSION.tgz" "$DEV_SHA512"

mkdir -p "$work/lib" "$work/dev"
tar xzf "$work/img-sharp-libvips-linux-$arch-$PKG_VERSION.tgz" -C "$work/lib"
tar xzf "$work/img-sharp-libvips-dev-$PKG_VERSION.tgz" -C "$work/dev"

tmp="$dest.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/lib" "$tmp/link"
cp "$work/lib/package/lib/$so" "$tmp/lib/"
cp -r "$work/dev/package/include" "$tmp/include"
cp "$work/dev/package/versions.json" "$tmp/versions.json"
for name in libvips.so libglib-2.0.so libgobject-2.0.so; do
  ln -s "../lib/$so" "$tmp/link/$name"
done
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp" "$dest"
echo "fetch-libvips: libvips $VIPS_VERSION ready in $dest" >&2
