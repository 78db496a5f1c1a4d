#!/usr/bin/env python3
"""Fails if a file under src/<layer>/ includes a header of a layer that is not below it."""
import pathlib, re, sys

# Each layer may include itself and the layers listed.
ALLOWED = {
    "util": set(),
    "hw": {"util"},
    "proto": {"util"},  # the wire format: shared by the daemon and its clients
    "memory": {"util", "hw"},
    "mmio": {"util", "hw"},
    "display": {"util", "hw", "memory", "mmio"},
    "decode": {"util", "hw", "memory", "mmio"},
    "vgpu": {"util", "hw", "memory", "mmio", "display"},
    "events": {"util", "hw", "memory", "mmio", "display", "vgpu"},
    "fb": {"util", "hw", "memory", "mmio", "decode"},
    # Host displays (KMS, virtual monitor): pixels and formats, nothing of vGPUs.
    "hostdisplay": {"util", "hw", "memory", "mmio", "decode", "fb"},
    "exporter": {"util", "hw", "proto", "memory", "mmio", "display", "decode", "vgpu", "fb"},
    # Guest pipes on host outputs: vGPUs and their planes above, host displays below.
    "directflip": {"util", "hw", "proto", "memory", "mmio", "display", "decode", "vgpu", "events", "fb", "exporter", "hostdisplay"},
    "guest": {"util", "hw"},  # runs in the VM: never the host's layers
    "vmguest": {"util", "hw", "guest"},  # vgpu-guest, the guest core's Linux ports inside a VM
    "kmstest": set(),  # vgpu-kmstest: drives any KMS driver in a VM, nothing of ours below it
    "remote": {"util", "hw"},  # serving a device to a VM (x-pci-proxy-dev): no vGPU knowledge
    "config": {"util", "hw", "proto", "memory", "mmio", "display", "vgpu", "guest"},
    "client": {"util", "hw", "proto", "events"},  # consumers: events/event_value.h only (constexpr)
    "sim": {"util", "hw", "memory", "mmio", "display", "decode", "vgpu", "events", "fb", "exporter", "guest"},
    "server": {"util", "hw", "proto", "memory", "mmio", "display", "decode", "vgpu", "events", "fb", "exporter", "guest", "config", "sim", "remote", "hostdisplay", "directflip"},
    # Viewers are consumers like any other: they see vGPUs through libvgd-client only.
    "viewers": {"util", "hw", "proto", "events", "decode", "fb", "client", "config", "guest"},  # guest: its font
    # The dashboard reports on the daemon (server/status.h) and its viewers.
    "web": {"util", "hw", "proto", "memory", "mmio", "display", "decode", "vgpu", "events", "fb", "exporter", "guest", "config", "sim", "server", "client", "viewers", "remote", "hostdisplay", "directflip"},
}
# The guest may use only these heap-free util headers.
GUEST_UTIL = {"util/address.h", "util/range_allocator.h"}

src = pathlib.Path(sys.argv[1])
bad = []
for f in sorted(src.rglob("*")):
    if f.suffix not in (".h", ".cpp"):
        continue
    layer = f.relative_to(src).parts[0]
    for n, line in enumerate(f.read_text().splitlines(), 1):
        m = re.match(r'\s*#include\s+"([a-z_]+)/[^"]+"', line)
        if not m:
            continue
        target = m.group(1)
        inc = line.split('"')[1]
        if target not in ALLOWED:
            continue
        if target != layer and target not in ALLOWED.get(layer, set()):
            bad.append(f"{f.relative_to(src)}:{n}: layer {layer} must not include {inc}")
        if layer == "guest" and target == "util" and inc not in GUEST_UTIL:
            bad.append(f"{f.relative_to(src)}:{n}: guest core may not include {inc} (heap/exception-free only)")
for b in bad:
    print(b)
if bad:
    sys.exit(1)
print(f"layering ok under {src}")
