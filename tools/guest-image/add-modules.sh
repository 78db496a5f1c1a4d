#!/usr/bin/env bash
# Adds modules of Debian's kernel package to an initramfs tree (docs/vm.md, The guest image): the
# named modules with everything they need (closed over the package's modules.dep), an optional
# out-of-tree module loaded last, and /lib/modules/ORDER_FILE listing them for /init in load
# order. Prints that order.
#   add-modules.sh ROOT KERNEL_DEB KERNEL_DIR ABI ORDER_FILE EXTRA_KO MODULE...
# EXTRA_KO: "" or an out-of-tree .ko (installed under extra/). KERNEL_DIR caches what comes out
# of the package: its modules.dep and the modules used so far.
set -euo pipefail
root=$1 deb=$2 kernel_dir=$3 abi=$4 order_file=$5 extra=$6
shift 6
moddir=lib/modules/$abi
fail() { echo "guest-image: $*" >&2; exit 1; }
command -v depmod >/dev/null || PATH=$PATH:/sbin:/usr/sbin
command -v depmod >/dev/null || fail "depmod is missing (Debian package kmod; scripts/install-deps installs it)"
# depmod over a tree without the lists of built-in and ordered modules (which need not matter here).
quiet_depmod() {
  touch "$1/$moddir"/modules.{order,builtin,builtin.modinfo}
  depmod -b "$1" "$abi"
}

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

# The closure: each module's modules.dep line names all it needs, directly or not. A module's
# line is longer than each of its dependencies' lines, so sorting by length is a load order.
needed=$(echo "$*" | tr '-' '_')
order=$(awk -v want=" $needed " '
  { name = $1; sub(/:$/, "", name); sub(/.*\//, "", name); sub(/\.ko.*$/, "", name); gsub(/-/, "_", name) }
  index(want, " " name " ") { for (i = 1; i <= NF; i++) { p = $i; sub(/:$/, "", p); set[p] = 1 } found[name] = 1 }
  END {
    split(want, w, " "); for (i in w) if (!(w[i] in found)) { print "missing " w[i]; exit 1 }
    for (p in set) print p
  }' "$kernel_dir/modules.dep") || fail "the kernel package has no module $(echo "$order" | sed -n 's/^missing //p')"
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
if [[ -n $extra ]]; then
  install -D -m 0644 "$extra" "$root/$moddir/extra/$(basename "$extra")"
  load_order+=("/$moddir/extra/$(basename "$extra")")
fi
printf '%s\n' "${load_order[@]}" > "$root/lib/modules/$order_file"
quiet_depmod "$root"  # for modprobe in the guest's shell
printf '%s\n' "${load_order[@]}"
