#!/usr/bin/env bash
# Builds the guest image (docs/vm.md, The guest image): Debian's kernel and an initramfs with
# busybox (from busybox-static), /init and the static vgpu-guest. The kernel package is the only
# download, with `apt-get download` into a cache that later builds reuse.
#   build.sh OUT_DIR VGPU_GUEST CACHE_DIR [KERNEL_PACKAGE]
# Exits 77 (skip) with the reason when a part is unavailable: no apt, no network, no busybox.
set -euo pipefail
out=$1 guest_bin=$2 cache=$3 package=${4:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
skip() { echo "guest-image: $*" >&2; exit 77; }

# The kernel: the package linux-image-amd64 currently depends on, unless one is named.
if [[ -z $package ]]; then
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
fi
mkdir -p "$cache" "$out"
if [[ -z $package ]]; then  # no apt metadata: the newest kernel already in the cache, if any
  deb=$(ls -1 "$cache"/linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n $deb ]] || skip "cannot tell which Debian kernel to use (apt-cache knows no linux-image-amd64; run apt-get update)"
else
  deb=$(ls -1 "$cache/${package}"_*.deb 2>/dev/null | tail -n 1 || true)
  if [[ -z $deb ]]; then
    echo "guest-image: apt-get download $package" >&2
    (cd "$cache" && apt-get download -q "$package" >/dev/null 2>"$cache/download.log") ||
      skip "apt-get download $package failed: $(tail -n 1 "$cache/download.log")"
    deb=$(ls -1 "$cache/${package}"_*.deb | tail -n 1)
  fi
fi
kernel_dir="$cache/kernel-$(basename "$deb" .deb)"
if [[ ! -d $kernel_dir ]]; then
  mkdir -p "$kernel_dir.tmp"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kernel_dir.tmp" --wildcards './boot/vmlinuz-*'
  mv "$kernel_dir.tmp" "$kernel_dir"
fi
cp "$kernel_dir"/boot/vmlinuz-* "$out/vmlinuz.tmp"

# busybox-static's binary: static, so the initramfs needs no libraries.
busybox=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/bin/busybox$' || true)
[[ -n $busybox && -x $busybox ]] || skip "busybox-static is not installed"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys}
cp "$busybox" "$root/bin/busybox"
strip -o "$root/bin/vgpu-guest" "$guest_bin"
install -m 0755 "$here/init" "$root/init"
# Fixed times and order: the same inputs give the same image.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet -R 0:0) |
  gzip -n -9 > "$out/initramfs.cpio.gz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
echo "guest-image: $out/vmlinuz ($(basename "$deb")), $out/initramfs.cpio.gz ($(stat -c %s "$out/initramfs.cpio.gz") bytes)"
