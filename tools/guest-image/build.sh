#!/usr/bin/env bash
# Builds the guest image (docs/vm.md, The guest image): Debian's kernel linux-image-<abi> (the ABI
# pinned in tools/guest-image/kernel-abi) and an initramfs with busybox (from busybox-static),
# /init, the static vgpu-guest and, when linux-headers-<abi> is installed, the guest driver
# vgpu_drm with the kernel's DRM modules it needs and libdrm's modetest; and, given the probe,
# virtio-gpu's modules with vgpu-kms-probe (the kms test rig). The kernel package is the only
# download, with `apt-get download` into a cache that later builds reuse.
#   build.sh OUT_DIR VGPU_GUEST CACHE_DIR [ABI [MODULE_DIR [VGPU_KMSTEST [VGPU_KMS_PROBE [VGPUD VGPUCTL [DIRECTFLIP_BENCH]]]]]]
# ABI empty: the pin. MODULE_DIR: where build-module.sh builds vgpu_drm (default CACHE_DIR/module).
# VGPU_KMSTEST: the static vgpu-kmstest, put in beside the driver (/init's vgpu.run=kmstest).
# VGPU_KMS_PROBE: vgpu-kms-probe and its libraries, with virtio-gpu (/init's vgpu.run=kmsprobe).
# VGPUD, VGPUCTL: with the probe, vgpud and vgpuctl with their libraries, the rig's two configs and
# its script (/init's vgpu.run=vgpud-kms). DIRECTFLIP_BENCH: with them, directflip_bench and its
# libraries (/init's vgpu.run=bench-kms: bench/run directflip-kms).
# Exits 77 (skip) with the reason when a part is unavailable: no apt, no network, no busybox;
# fails when apt knows Debian's kernels but not the pinned one (the pin needs a bump).
set -euo pipefail
out=$1 guest_bin=$2 cache=$3 abi=${4:-} module_dir=${5:-$3/module} kmstest_bin=${6:-} probe_bin=${7:-}
vgpud_bin=${8:-} vgpuctl_bin=${9:-} bench_bin=${10:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
skip() { echo "guest-image: $*" >&2; exit 77; }
fail() { echo "guest-image: $*" >&2; exit 1; }
pin="the ABI in $here/kernel-abi"
if [[ -n $abi ]]; then pin="the ABI given (-DVGD_GUEST_KERNEL_ABI=$abi)"; else abi=$(sed -n '/^[^#]/{p;q}' "$here/kernel-abi"); fi
package=linux-image-$abi
mkdir -p "$cache" "$out"

# The kernel package, downloaded once.
deb=$(ls -1 "$cache/${package}"_*.deb 2>/dev/null | tail -n 1 || true)
if [[ -z $deb ]]; then
  if ! apt-cache show "$package" >/dev/null 2>&1; then
    apt-cache show linux-image-amd64 >/dev/null 2>&1 ||
      skip "apt has no package lists (run apt-get update), so $package cannot be downloaded"
    fail "$package is no longer in Debian's archive: bump $pin" \
         "(apt-cache depends linux-image-amd64 names the current one) and install its linux-headers"
  fi
  echo "guest-image: apt-get download $package" >&2
  (cd "$cache" && apt-get download -q "$package" >/dev/null 2>"$cache/download.log") ||
    skip "apt-get download $package failed: $(tail -n 1 "$cache/download.log")"
  deb=$(ls -1 "$cache/${package}"_*.deb | tail -n 1)
fi
kernel_dir="$cache/kernel-$(basename "$deb" .deb)"
if [[ ! -d $kernel_dir ]]; then
  mkdir -p "$kernel_dir.tmp"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kernel_dir.tmp" --wildcards './boot/vmlinuz-*'
  mv "$kernel_dir.tmp" "$kernel_dir"
fi
cp "$kernel_dir"/boot/vmlinuz-* "$out/vmlinuz.tmp"

# busybox-static's binary: static, so the initramfs needs no libraries for it.
busybox=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/bin/busybox$' || true)
[[ -n $busybox && -x $busybox ]] || skip "busybox-static is not installed"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys}
cp "$busybox" "$root/bin/busybox"
strip -o "$root/bin/vgpu-guest" "$guest_bin"
install -m 0755 "$here/init" "$root/init"

# The driver, when it can be built here; the image works without it (vgpu-guest needs none).
rm -f "$out/driver.txt" "$out/no-driver.txt"
status=0
"$here/build-module.sh" "$here/../../guest/linux" "$module_dir" "$abi" || status=$?
if ((status == 0)); then
  "$here/add-driver.sh" "$root" "$module_dir/vgpu_drm.ko" "$deb" "$kernel_dir" "$abi" > "$out/driver.txt.tmp"
  [[ -z $kmstest_bin ]] || strip -o "$root/bin/vgpu-kmstest" "$kmstest_bin"
  mv "$out/driver.txt.tmp" "$out/driver.txt"
elif ((status == 77)); then
  echo "linux-headers-$abi is not installed, so vgpu_drm could not be built" > "$out/no-driver.txt"
  echo "guest-image: without vgpu_drm: $(cat "$out/no-driver.txt")" >&2
else
  exit "$status"
fi

# The kms test rig: virtio-gpu's modules (virtio_pci is its transport, not a dependency) and the
# probe; it needs no headers, only the kernel package.
rm -f "$out/kms.txt" "$out/vgpud-kms.txt" "$out/bench-kms.txt"
if [[ -n $probe_bin ]]; then
  "$here/add-modules.sh" "$root" "$deb" "$kernel_dir" "$abi" kms-load-order "" virtio_pci virtio_gpu > "$out/kms.txt.tmp"
  "$here/add-program.sh" "$root" "$probe_bin"
  # vgpud itself on the card, one output through a lease (docs/vm.md, The kms test rig).
  if [[ -n $vgpud_bin && -n $vgpuctl_bin ]]; then
    "$here/add-program.sh" "$root" "$vgpud_bin"
    "$here/add-program.sh" "$root" "$vgpuctl_bin"
    install -D -m 0644 "$here/vgpud-kms/a.toml" "$root/etc/vgpud/a.toml"
    install -D -m 0644 "$here/vgpud-kms/b.toml" "$root/etc/vgpud/b.toml"
    install -D -m 0755 "$here/vgpud-kms/run" "$root/bin/vgpud-kms"
    (cd "$here/vgpud-kms" && cat a.toml b.toml) > "$out/vgpud-kms.txt.tmp"
  fi
  # The direct-flip benchmark on the card (not built yet when only the kms tests' fixture runs).
  if [[ -n $bench_bin && -x $bench_bin ]]; then
    "$here/add-program.sh" "$root" "$bench_bin"
    install -D -m 0755 "$here/bench-kms" "$root/bin/bench-kms"
    echo "$(basename "$bench_bin")" > "$out/bench-kms.txt.tmp"
  elif [[ -n $bench_bin ]]; then
    echo "guest-image: without $bench_bin (not built)" >&2
  fi
fi

# Fixed times and order: the same inputs give the same image.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible --quiet -R 0:0) |
  gzip -n -9 > "$out/initramfs.cpio.gz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
[[ ! -f $out/kms.txt.tmp ]] || mv "$out/kms.txt.tmp" "$out/kms.txt"
[[ ! -f $out/vgpud-kms.txt.tmp ]] || mv "$out/vgpud-kms.txt.tmp" "$out/vgpud-kms.txt"
[[ ! -f $out/bench-kms.txt.tmp ]] || mv "$out/bench-kms.txt.tmp" "$out/bench-kms.txt"
echo "guest-image: $out/vmlinuz ($(basename "$deb")), $out/initramfs.cpio.gz ($(stat -c %s "$out/initramfs.cpio.gz") bytes)"
