#!/usr/bin/env bash
# Adds the guest driver to an initramfs tree (docs/vm.md, The guest image): vgpu_drm.ko, the
# modules of the kernel package it needs (its `modinfo -F depends` closed over the package's
# modules.dep), /lib/modules/load-order for /init (dependency order, vgpu_drm last), and libdrm's
# modetest with its shared libraries and the dynamic loader. Prints the load order.
#   add-driver.sh ROOT VGPU_DRM_KO KERNEL_DEB KERNEL_DIR ABI
# KERNEL_DIR caches what comes out of the package: its modules.dep and the modules used so far.
set -euo pipefail
root=$1 ko=$2 deb=$3 kernel_dir=$4 abi=$5
moddir=lib/modules/$abi
fail() { echo "guest-image: $*" >&2; exit 1; }
command -v depmod >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v depmod >/dev/null || fail "depmod is missing (Debian package kmod; scripts/install-deps installs it)"
# depmod over a tree without the lists of built-in and ordered modules (which need not matter here).
quiet_depmod() {
  touch "$1/$moddir"/modules.{order,builtin,builtin.modinfo}
  depmod -b "$1" "$abi"
}
vermagic=$(modinfo -F vermagic "$ko")
[[ $vermagic == "$abi "* ]] || fail "$ko is built for '$vermagic', the image's kernel is $abi"

# Debian's package has no modules.dep (depmod makes it when the package is installed): make it
# once from a throwaway unpacking of the package's modules.
if [[ ! -f $kernel_dir/modules.dep ]]; then
  tmp=$(mktemp -d "$kernel_dir/depmod.XXXXXX")
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./$moddir"
  quiet_depmod "$tmp"
  cp "$tmp/$moddir/modules.dep" "$kernel_dir/modules.dep.tmp"
  rm -rf "$tmp"
  mv "$kernel_dir/modules.dep.tmp" "$kernel_dir/modules.dep"
fi

# The closure: each dependency's modules.dep line names all it needs, directly or not. A module's
# line is longer than each of its dependencies' lines, so sorting by length is a load order.
needed=$(modinfo -F depends "$ko" | tr ',' ' ')
order=$(awk -v want=" $needed " '
  { name = $1; sub(/:$/, "", name); sub(/.*\//, "", name); sub(/\.ko.*$/, "", name); gsub(/-/, "_", name) }
  index(want, " " name " ") { for (i = 1; i <= NF; i++) { p = $i; sub(/:$/, "", p); set[p] = 1 } found[name] = 1 }
  END {
    split(want, w, " "); for (i in w) if (!(w[i] in found)) { print "missing " w[i]; exit 1 }
    for (p in set) print p
  }' "$kernel_dir/modules.dep") || fail "the kernel package has no module $(echo "$order" | sed -n 's/^missing //p'), which vgpu_drm needs"
order=$(for p in $order; do echo "$(awk -v p="$p:" '$1 == p {print NF}' "$kernel_dir/modules.dep") $p"; done |
        sort -n -k1,1 -k2,2 | cut -d' ' -f2)
for p in $order; do
  # Busybox's insmod hands the kernel the file as it is: a compressed one would need the kernel's
  # CONFIG_MODULE_DECOMPRESS and finit_module. Debian's 6.1 kernels ship them uncompressed.
  [[ $p == *.ko ]] || fail "$p is compressed; the image loads modules with busybox insmod"
done

missing=()
for p in $order; do [[ -f $kernel_dir/$moddir/$p ]] || missing+=("./$moddir/$p"); done
if ((${#missing[@]})); then
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kernel_dir" "${missing[@]}"
fi
load_order=()
for p in $order; do
  install -D -m 0644 "$kernel_dir/$moddir/$p" "$root/$moddir/$p"
  load_order+=("/$moddir/$p")
done
install -D -m 0644 "$ko" "$root/$moddir/extra/vgpu_drm.ko"
load_order+=("/$moddir/extra/vgpu_drm.ko")
printf '%s\n' "${load_order[@]}" > "$root/lib/modules/load-order"
quiet_depmod "$root"  # for modprobe in the guest's shell

# modetest (libdrm-tests), its libraries and the loader, at the paths ldd names.
modetest=$(command -v modetest || true)
[[ -n $modetest ]] || fail "modetest is missing (Debian package libdrm-tests; scripts/install-deps installs it)"
install -D -m 0755 "$modetest" "$root/bin/modetest"
for lib in $(ldd "$modetest" | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}'); do
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done
printf '%s\n' "${load_order[@]}"
