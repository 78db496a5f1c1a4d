// What a device served to a VM implements, whatever carries the VM's accesses (x-pci-proxy-dev
// today, vfio-user later): BAR0 accesses at offsets into the BAR, the VM's RAM as descriptors,
// and reset (docs/vm.md, Endpoint). The transport owns the PCI function (config space, BAR
// decoding) and gives the device an IntxLine to drive.
#pragma once

#include <cstdint>
#include <vector>

#include "util/address.h"
#include "util/unique_fd.h"

namespace vgd::remote {

// One piece of guest RAM: [gpa, gpa + size) lives at `fd_offset` in `fd`, which is mappable
// with MAP_SHARED (a memfd on QEMU's side).
struct RamSection {
  Gpa gpa;
  uint64_t size = 0;
  uint64_t fd_offset = 0;
  UniqueFd fd;
};

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // size is 1, 2, 4 or 8 and [offset, offset + size) lies inside BAR0; what the device does
  // with an access it refuses (misaligned, a hole) is its own business.
  virtual uint64_t bar0_read(MmioOffset offset, uint32_t size) = 0;
  virtual void bar0_write(MmioOffset offset, uint32_t size, uint64_t value) = 0;
  // The VM's whole RAM map, replacing the previous one (QEMU resends it on every change).
  virtual void set_guest_ram(std::vector<RamSection> sections) = 0;
  // Machine reset: the device returns to its power-on state.
  virtual void reset() = 0;
};

}  // namespace vgd::remote
