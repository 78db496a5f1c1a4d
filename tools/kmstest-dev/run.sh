#!/usr/bin/env bash
# Runs vgpu-kmstest against Linux's vkms in a throwaway TCG VM: Debian's guest kernel (the guest
# image's cache), a vkms.ko built from Debian's linux-source package against the installed
# linux-headers (Debian's kernel config leaves vkms out), busybox and the program in an initramfs.
#   run.sh VGPU_KMSTEST KERNEL_DEB WORK_DIR [kmstest.OPTION[=VALUE] ...]
# e.g. run.sh build/src/kmstest/vgpu-kmstest build/guest-image/cache/linux-image-*.deb /tmp/kms kmstest.no-wait
# stdin goes to the guest's serial console: without kmstest.no-wait, type a line to go on.
set -euo pipefail
prog=$1 deb=$2 work=$3
shift 3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(dpkg-deb -f "$deb" Package | sed 's/^linux-image-//')
headers=/usr/src/linux-headers-$version
[[ -d $headers ]] || { echo "kmstest-dev: no $headers (apt-get install linux-headers-$version)" >&2; exit 1; }
mkdir -p "$work"

# vkms.ko from the kernel source of the same Debian release.
if [[ ! -f $work/vkms/vkms.ko ]]; then
  src_pkg=linux-source-$(cut -d. -f1,2 <<<"$version")
  (cd "$work" && ls "$src_pkg"_*.deb >/dev/null 2>&1 || apt-get download -q "$src_pkg" >/dev/null)
  dpkg-deb --fsys-tarfile "$work/$src_pkg"_*.deb | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
    tar -xJ -C "$work" --wildcards '*/drivers/gpu/drm/vkms/*'
  rm -rf "$work/vkms" && mv "$work"/linux-source-*/drivers/gpu/drm/vkms "$work/vkms"
  make -s -C "$headers" M="$work/vkms" CONFIG_DRM_VKMS=m modules
fi

# The kernel and the DRM modules vkms depends on.
if [[ ! -d $work/kernel ]]; then
  mkdir -p "$work/kernel.tmp"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/kernel.tmp" --wildcards './boot/vmlinuz-*' \
    './lib/modules/*/kernel/drivers/gpu/drm/drm.ko' './lib/modules/*/kernel/drivers/gpu/drm/drm_*helper.ko'
  mv "$work/kernel.tmp" "$work/kernel"
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp "$(dpkg -L busybox-static | grep -m1 '/bin/busybox$')" "$root/bin/busybox"
strip -o "$root/bin/vgpu-kmstest" "$prog"
install -m 0755 "$here/init" "$root/init"
cp "$work"/kernel/lib/modules/*/kernel/drivers/gpu/drm/{drm,drm_kms_helper,drm_shmem_helper}.ko "$work/vkms/vkms.ko" \
  "$root/lib/modules/"
(cd "$root" && find . -mindepth 1 | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$work/initramfs.cpio.gz"

exec qemu-system-x86_64 -nodefaults -no-user-config -display none -accel tcg -m 512M -smp 1 -no-reboot \
  -kernel "$work"/kernel/boot/vmlinuz-* -initrd "$work/initramfs.cpio.gz" -serial stdio \
  -append "console=ttyS0 quiet panic=-1 $*"
