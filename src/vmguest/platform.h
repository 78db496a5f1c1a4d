// The platform facts the driver needs, as a VM learns them (docs/vm.md, Inside the VM): the GGTT
// size from BAR0's size (registers up to 8 MiB, then one 8-byte entry per 4 KiB page; docs/
// hardware.md, BAR0), the aperture from BAR2's size as on real hardware (GMADR), and the free RAM
// from the reservation it was given. A non-zero override wins over the BAR.
#pragma once

#include <cstdint>

#include "guest/ports.h"
#include "hw/bar.h"
#include "vmguest/options.h"
#include "vmguest/pci.h"

namespace vgd::vmguest {

// 0 when BAR0 is too small to hold any GTT entry.
constexpr uint64_t ggtt_size_for_bar0(uint64_t bar0_size) {
  if (bar0_size <= hw::kGttOffset) return 0;
  return (bar0_size - hw::kGttOffset) / hw::kGttEntrySize * hw::kGttPageSize;
}

inline guest::Platform platform_for(const PciDevice& dev, GpaRange ram, uint64_t ggtt_size, uint64_t aperture_size) {
  guest::Platform p;
  p.ggtt_size = ggtt_size ? ggtt_size : ggtt_size_for_bar0(dev.bar_size[0]);
  p.aperture_size = aperture_size ? aperture_size : dev.bar_size[2] ? dev.bar_size[2] : kDefaultApertureSize;
  p.free_ram = ram;
  return p;
}

}  // namespace vgd::vmguest
