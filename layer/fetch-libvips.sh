#!/usr/bin/env bash
# Fetch the prebuilt libvips that sharp's maintainers publish on npm, at a
# pinned version, verify it, and unpack it into DEST (default: .libvips/<ver>
# beside this repo's Cargo.toml). The same shared library is what the Lambda
# layer ships. It uses npm when installed, else curl or wget against the
# registry npm would use (npm_config_registry); either way the tarballs must
# match the sha512 pins.
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
for tool in tar sha512sum base64 od; do
  command -v "$tool" >/dev/null || { echo "fetch-libvips: $tool is needed" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lib_tgz="img-sharp-libvips-linux-$arch-$PKG_VERSION.tgz"
dev_tgz="img-sharp-libvips-dev-$PKG_VERSION.tgz"
echo "fetch-libvips: fetching @img/sharp-libvips-linux-$arch@$PKG_VERSION and @img/sharp-libvips-dev@$PKG_VERSION" >&2
if command -v npm >/dev/null; then
  # npm honours the user's registry, proxy and auth settings (.npmrc).
  (cd "$work" && npm pack --silent "@img/sharp-libvips-linux-$arch@$PKG_VERSION" "@img/sharp-libvips-dev@$PKG_VERSION" >/dev/null)
else
  # Without npm: the same tarballs from the registry npm would use
  # (npm_config_registry, default registry.npmjs.org), over plain HTTPS.
  registry=${npm_config_registry:-${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org/}}
  registry=${registry%/}
  fetch() { # url file
    if command -v curl >/dev/null; then
      curl --fail --silent --show-error --location --retry 3 --proto '=https,http' -o "$2" "$1"
    elif command -v wget >/dev/null; then
      wget --quiet --tries=3 -O "$2" "$1"
    else
      echo "fetch-libvips: npm, curl or wget is needed to download libvips" >&2
      exit 1
    fi
  }
  echo "fetch-libvips: npm is not installed; downloading from $registry" >&2
  fetch "$registry/@img/sharp-libvips-linux-$arch/-/sharp-libvips-linux-$arch-$PKG_VERSION.tgz" "$work/$lib_tgz"
  fetch "$registry/@img/sharp-libvips-dev/-/sharp-libvips-dev-$PKG_VERSION.tgz" "$work/$dev_tgz"
fi

check() { # file expected-sha512-base64 (npm's integrity pin), compared as hex
  local want got
  want=$(printf '%s' "$2" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  got=$(sha512sum "$1" | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "fetch-libvips: integrity mismatch for $1" >&2; exit 1; }
}
check "$work/$lib_tgz" "$LIB_SHA512"
check "$work/$dev_tgz" "$DEV_SHA512"

mkdir -p "$work/lib" "$work/dev"
tar xzf "$work/$lib_tgz" -C "$work/lib"
tar xzf "$work/$dev_tgz" -C "$work/dev"

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
