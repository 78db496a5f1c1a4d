#!/usr/bin/env bash
# Builds vgpu_drm, the guest's DRM driver (guest/linux), out of tree with Kbuild against Debian's
# linux-headers-<abi>. Kbuild writes its objects next to the sources, so the sources are copied
# into OUT_DIR first and the source tree stays clean.
#   build-module.sh SRC_DIR OUT_DIR [ABI]   (ABI: default the pin in tools/guest-image/kernel-abi)
# Exits 77 (skip) with the reason when the headers are not installed.
set -euo pipefail
src=$1 out=$2 abi=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ -n $abi ]] || abi=$(sed -n '/^[^#]/{p;q}' "$here/kernel-abi")
headers=/usr/src/linux-headers-$abi
if [[ ! -f $headers/Makefile ]]; then
  echo "vgpu-drm-module: $headers is missing: install linux-headers-$abi (scripts/install-deps does;" \
       "the ABI is pinned in tools/guest-image/kernel-abi)" >&2
  exit 77
fi

mkdir -p "$out"
# Copy what differs (a fresh mtime, so make rebuilds just that) and drop the sources of the last
# copy that went away (Kbuild's own .mod.c files stay).
sources=$(cd "$src" && ls Kbuild *.c *.h)
for f in $sources; do
  cmp -s "$src/$f" "$out/$f" || cp "$src/$f" "$out/$f"
done
if [[ -f $out/sources ]]; then
  for f in $(cat "$out/sources"); do
    if [[ ! -e $src/$f ]]; then rm -f "$out/$f" "$out/${f%.c}.o"; fi
  done
fi
echo "$sources" > "$out/sources"
# The headers have no vmlinux, so Kbuild says it skips BTF for every module: not news.
if ! make -s -C "$headers" M="$out" modules >"$out/make.log" 2>&1; then
  cat "$out/make.log" >&2
  echo "vgpu-drm-module: the Kbuild build in $out failed" >&2
  exit 1
fi
grep -v "^Skipping BTF generation" "$out/make.log" >&2 || true
