// The vGPU's PCI identity when it is served to a VM (docs/hardware.md, PCI identity): what the
// device's config space says and what the guest looks for.
#pragma once

#include <cstdint>

namespace vgd::hw {

inline constexpr uint16_t kVgpuVendorId = 0x1af4;  // with the device ID: QEMU's experimental range
inline constexpr uint16_t kVgpuDeviceId = 0x10f0;
inline constexpr uint32_t kVgpuClass = 0x038000;   // display controller, other (not VGA)

}  // namespace vgd::hw
