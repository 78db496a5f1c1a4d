// What vgpu-guest is told on its command line and what it reads from the kernel's: which device
// to drive, which guest-physical range it may use as RAM, which workload to run (docs/vm.md,
// Inside the VM). Pure parsing, so the host tests it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "guest/workload_kind.h"
#include "hw/pci_ids.h"
#include "util/address.h"

namespace vgd::vmguest {

// The vGPU's PCI IDs (docs/hardware.md, PCI identity); --vendor / --device override them.
inline constexpr uint16_t kDefaultVendor = hw::kVgpuVendorId;
inline constexpr uint16_t kDefaultDevice = hw::kVgpuDeviceId;
// The CPU-visible part of the GGTT when the device has no BAR2 to size it by.
inline constexpr uint64_t kDefaultApertureSize = 512ull << 20;

struct Options {
  Workload workload = Workload::Desktop;
  uint32_t frames = 0;  // 0: until SIGTERM or SIGINT
  bool hold = false;    // after `frames`, keep the last frame on screen until SIGTERM or SIGINT
  uint32_t bench_mmio = 0;  // first time this many reads and writes of a plain register
  uint16_t vendor = kDefaultVendor;
  uint16_t device = kDefaultDevice;
  std::optional<GpaRange> ram;       // --ram; else the kernel's memmap= reservation
  uint64_t ggtt_size = 0;            // 0: from BAR0's size
  uint64_t aperture_size = 0;        // 0: from BAR2's size, else kDefaultApertureSize
  std::string sysfs = "/sys/bus/pci/devices";
  std::string mem = "/dev/mem";
  bool help = false;
};

// "4096", "0x1000", "64M", "2G", "16K": the kernel's memparse() forms.
std::optional<uint64_t> parse_size(std::string_view s);
// A reservation in the kernel's `memmap=<size>$<start>` form ("64M$0x10000000"), page-aligned.
std::optional<GpaRange> parse_reservation(std::string_view s);
// The first `memmap=<size>$<start>` on a kernel command line (/proc/cmdline).
std::optional<GpaRange> reservation_in_cmdline(std::string_view cmdline);

// argv[1..argc) into out; on a bad argument, false with the reason in error.
bool parse_args(int argc, const char* const* argv, Options& out, std::string& error);
const char* usage();

}  // namespace vgd::vmguest
