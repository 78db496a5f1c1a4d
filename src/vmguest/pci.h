// Finding the vGPU among the VM's PCI devices through sysfs: the directory whose vendor and
// device files carry its IDs, and its BAR sizes from the resource file (docs/vm.md, Inside the VM).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vgd::vmguest {

struct PciDevice {
  std::string path;                  // <sysfs>/<domain:bus:dev.fn>
  std::array<uint64_t, 6> bar_size{};  // 0: BAR absent
};

// The first device (in directory order, sorted) under sysfs_dir with these IDs.
std::optional<PciDevice> find_pci_device(const std::string& sysfs_dir, uint16_t vendor, uint16_t device);
// Sizes of BARs 0-5 from the text of a sysfs `resource` file ("start end flags" per line).
std::array<uint64_t, 6> parse_resource_file(std::string_view text);

}  // namespace vgd::vmguest
