// BAR0 (GTTMMADR) layout of a gen8/9 GPU, as the guest sees it (docs/hardware.md, BAR0): registers
// in the first 2 MiB, 64-bit GTT entries from 8 MiB, one per 4 KiB page of graphics memory.
#pragma once

#include <cstdint>

#include "hw/field.h"
#include "util/address.h"

namespace vgd::hw {

inline constexpr uint64_t kMmioRegsSize = 2ull << 20;   // register file
inline constexpr uint64_t kGttOffset = 8ull << 20;      // first GTT entry
inline constexpr uint64_t kGttEntrySize = 8;

// GM bytes covered by one GTT entry.
inline constexpr uint64_t kGttPageSize = kPageSize;

// BAR0 size for a GGTT of ggtt_size bytes of graphics memory.
constexpr uint64_t bar0_size(uint64_t ggtt_size) {
  return kGttOffset + ggtt_size / kGttPageSize * kGttEntrySize;
}

constexpr MmioOffset gtt_entry_offset(uint64_t index) {
  return MmioOffset(kGttOffset + index * kGttEntrySize);
}

// gen8 GGTT PTE: bit 0 present, bits 38:12 the page frame number of the backing page.
namespace pte {
inline constexpr Field<uint64_t> kPresent = bit<uint64_t>(0);
inline constexpr Field<uint64_t> kFrame{12, 27};

constexpr uint64_t make(uint64_t frame) { return kFrame.set(kPresent.set(0, 1), frame); }
}  // namespace pte

// Fence registers: 64-bit lo/hi pairs at 0x100000 + 8·i (FENCE_REG_GEN6_LO(i)).
inline constexpr uint64_t kFenceBase = 0x100000;
inline constexpr uint64_t kFenceStride = 8;
inline constexpr uint32_t kMaxFences = 32;  // hardware register slots in the block

}  // namespace vgd::hw
