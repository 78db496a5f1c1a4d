// The single entry point for guest MMIO: read(offset, size) / write(offset, size, value) for
// 1/2/4/8-byte naturally aligned accesses to BAR0. In-process guests and KVM exits both call it.
// Devices register an offset range and see block-relative offsets; everything else in the
// register part is plain storage in the VregFile. Bad accesses are refused and counted, never
// fatal. Not thread-safe: the owner (one vGPU) serialises calls.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "hw/blocks.h"
#include "mmio/guest_attack.h"
#include "mmio/vreg_file.h"
#include "util/address.h"

namespace vgd {

enum class AccessStatus : uint8_t { Ok, BadSize, Misaligned, OutOfRange, Unbacked };
const char* describe(AccessStatus s);

class MmioDevice {
 public:
  virtual uint64_t read(uint64_t rel, unsigned size) = 0;
  virtual void write(uint64_t rel, unsigned size, uint64_t value) = 0;
  // A write while the device's block is muted (failsafe): kept for the guest to read back, with no
  // side effect. Devices with bits only the host may set override this to protect them.
  virtual void write_muted(VregFile& regs, uint64_t abs, unsigned size, uint64_t value) {
    regs.write(abs, size, value);
  }

 protected:
  ~MmioDevice() = default;
};

struct MmioStats {
  std::array<uint64_t, hw::kRegBlockCount> reads{};
  std::array<uint64_t, hw::kRegBlockCount> writes{};
  // Refused accesses: GuestAttack::MmioBadSize, MmioMisaligned, MmioBeyondBar (beyond BAR0) and
  // MmioUnbacked (inside BAR0 but neither register file nor device: the 2..8 MiB hole).
  AttackCounts attacks;
  uint64_t muted_writes = 0; // writes a muted block kept in storage only (failsafe)
  uint64_t refused() const { return attacks.total(); }
};

class MmioBus {
 public:
  // `id`: the vGPU whose accesses these are, for the log.
  MmioBus(uint64_t bar_size, VregFile& vregs, uint32_t id = 0) : bar_size_(bar_size), vregs_(&vregs), id_(id) {}

  // False (and nothing added) for an empty, unaligned, overlapping or out-of-BAR range.
  bool add(MmioOffset base, uint64_t size, MmioDevice& dev);
  bool add(hw::BlockRange block, MmioDevice& dev) { return add(MmioOffset(block.base), block.size, dev); }

  AccessStatus read(MmioOffset off, unsigned size, uint64_t& value);
  AccessStatus write(MmioOffset off, unsigned size, uint64_t value);

  // Writes to a muted block go to plain storage without device side effects.
  void set_muted(hw::RegBlock b, bool muted) { muted_[static_cast<size_t>(b)] = muted; }

  const MmioStats& stats() const { return stats_; }
  uint64_t bar_size() const { return bar_size_; }

 private:
  struct Slot {
    uint64_t base, size;
    MmioDevice* dev;
  };
  AccessStatus check(uint64_t off, unsigned size);
  const Slot* find(uint64_t off) const;

  uint64_t bar_size_;
  VregFile* vregs_;
  uint32_t id_;
  std::vector<Slot> slots_;  // sorted by base, non-overlapping
  std::array<bool, hw::kRegBlockCount> muted_{};
  MmioStats stats_;
};

}  // namespace vgd
