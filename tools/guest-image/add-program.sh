#!/usr/bin/env bash
# Adds a dynamically linked program to an initramfs tree (docs/vm.md, The guest image) as
# /bin/NAME, with the shared libraries and the dynamic loader at the paths ldd names.
#   add-program.sh ROOT PROGRAM [NAME]
set -euo pipefail
root=$1 program=$2 name=${3:-$(basename "$2")}
install -D -m 0755 "$program" "$root/bin/$name"
strip "$root/bin/$name" 2>/dev/null || true
for lib in $(ldd "$program" | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}'); do
  install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done
