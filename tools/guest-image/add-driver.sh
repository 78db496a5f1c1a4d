#!/usr/bin/env bash
# Adds the guest driver to an initramfs tree (docs/vm.md, The guest image): vgpu_drm.ko, the
# modules of the kernel package it needs (its `modinfo -F depends`, closed by add-modules.sh),
# /lib/modules/load-order for /init (dependency order, vgpu_drm last), and libdrm's modetest
# with its shared libraries and the dynamic loader. Prints the load order.
#   add-driver.sh ROOT VGPU_DRM_KO KERNEL_DEB KERNEL_DIR ABI
# KERNEL_DIR caches what comes out of the package: its modules.dep and the modules used so far.
set -euo pipefail
root=$1 ko=$2 deb=$3 kernel_dir=$4 abi=$5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "guest-image: $*" >&2; exit 1; }
vermagic=$(modinfo -F vermagic "$ko")
[[ $vermagic == "$abi "* ]] || fail "$ko is built for '$vermagic', the image's kernel is $abi"
"$here/add-modules.sh" "$root" "$deb" "$kernel_dir" "$abi" load-order "$ko" $(modinfo -F depends "$ko" | tr ',' ' ')

modetest=$(command -v modetest || true)
[[ -n $modetest ]] || fail "modetest is missing (Debian package libdrm-tests; scripts/install-deps installs it)"
"$here/add-program.sh" "$root" "$modetest"
