// The vGPU as a conventional PCI function: its 256-byte configuration space and where its BAR
// sits in guest-physical memory (docs/vm.md, Config space). Transport-neutral and pure: the
// x-pci-proxy-dev session forwards the guest's config accesses here, and a vfio-user server
// would too. BAR accesses reach the device at absolute guest-physical addresses, so the BAR base
// the guest programs is tracked here and decode() turns an address into a BAR0 offset.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "hw/bar.h"
#include "hw/pci_ids.h"
#include "util/address.h"

namespace vgd::remote {

// IDs from the range QEMU's PCI ID list leaves for experimental use; no in-tree Linux driver
// binds them (docs/hardware.md, PCI identity).
struct PciIdentity {
  uint16_t vendor = hw::kVgpuVendorId;
  uint16_t device = hw::kVgpuDeviceId;
  uint16_t subsystem_vendor = hw::kVgpuVendorId;
  uint16_t subsystem = hw::kVgpuDeviceId;
  uint8_t revision = 1;
  uint32_t class_code = hw::kVgpuClass;
};

// BAR0: registers, PVINFO and the GGTT of a 4 GiB graphics memory (docs/hardware.md, BAR0).
inline constexpr uint64_t kBar0Size = hw::bar0_size(4ull << 30);
static_assert(kBar0Size == 16ull << 20);

namespace cfg {  // offsets in the type-0 header
inline constexpr uint32_t kVendor = 0x00, kDevice = 0x02, kCommand = 0x04, kStatus = 0x06;
inline constexpr uint32_t kRevision = 0x08, kClass = 0x09, kCacheLine = 0x0c, kHeaderType = 0x0e;
inline constexpr uint32_t kBar0 = 0x10, kCardbusCis = 0x28, kSubsystemVendor = 0x2c;
inline constexpr uint32_t kSubsystem = 0x2e, kRom = 0x30, kInterruptLine = 0x3c;
inline constexpr uint32_t kInterruptPin = 0x3d, kCapPointer = 0x34;
inline constexpr uint16_t kCommandMemory = 1u << 1, kCommandMaster = 1u << 2;
inline constexpr uint16_t kCommandParity = 1u << 6, kCommandSerr = 1u << 8;
inline constexpr uint16_t kCommandIntxDisable = 1u << 10;
inline constexpr uint16_t kStatusInterrupt = 1u << 3, kStatusCapList = 1u << 4;
inline constexpr uint8_t kPinIntA = 1;
// The one capability: Advanced Features, which gives a conventional PCI function a
// function-level reset (docs/vm.md, Config space).
inline constexpr uint32_t kAfCap = 0x40, kAfCtrl = kAfCap + 4;
inline constexpr uint8_t kCapIdAf = 0x13, kAfLength = 6;
inline constexpr uint8_t kAfCapTp = 1u << 0, kAfCapFlr = 1u << 1, kAfCtrlFlr = 1u << 0;
}  // namespace cfg

class PciFunction {
 public:
  static constexpr uint32_t kSize = 256;

  // bar0_size: a power of two from 4 KiB to 1 GiB (QEMU computes BAR sizes in an int).
  explicit PciFunction(PciIdentity id = {}, uint64_t bar0_size = kBar0Size);

  // What a config write asks of the device beyond its registers.
  enum class WriteEffect { None, FunctionReset };

  // Little-endian accesses of 1, 2 or 4 bytes at any offset; offset + len must lie within
  // 256 bytes (the wire parser guarantees it; beyond it reads are all ones, writes dropped).
  // A write that sets AF_CTRL's FLR bit has already reset the registers when it returns
  // FunctionReset; the caller resets the device behind them.
  uint32_t read(uint32_t offset, uint32_t len) const;
  WriteEffect write(uint32_t offset, uint32_t len, uint32_t value);

  // The BAR0 offset of [gpa, gpa + size), or nothing unless memory decoding is on, BAR0 holds
  // an address, and the whole access lies inside it.
  std::optional<MmioOffset> decode(Gpa gpa, uint32_t size) const;
  // BAR0's guest-physical base while it is assigned (nonzero and entirely below 4 GiB).
  std::optional<Gpa> bar0_base() const;
  bool memory_enabled() const { return command() & cfg::kCommandMemory; }
  bool intx_disabled() const { return command() & cfg::kCommandIntxDisable; }
  uint64_t bar0_size() const { return bar0_size_; }

  // The status register's interrupt bit mirrors the device's INTx level.
  void set_interrupt_status(bool pending);
  // A device or function-level reset: every register back to its power-on value.
  void reset();

 private:
  uint16_t command() const;

  uint64_t bar0_size_;
  std::array<uint8_t, kSize> defaults_{};
  std::array<uint8_t, kSize> writable_{};  // per byte: which bits a write may change
  std::array<uint8_t, kSize> bytes_{};
};

}  // namespace vgd::remote
