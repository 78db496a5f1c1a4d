// Register blocks of BAR0, for trap accounting: which part of the device a guest is touching.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "hw/bar.h"
#include "hw/pvinfo.h"

namespace vgd::hw {

enum class RegBlock : uint8_t { Interrupt, Display, Pvinfo, Fence, Gtt, Other };
inline constexpr size_t kRegBlockCount = 6;

inline constexpr std::array<std::string_view, kRegBlockCount> kRegBlockNames = {
    "interrupt", "display", "pvinfo", "fence", "gtt", "other"};

constexpr std::string_view name(RegBlock b) { return kRegBlockNames[static_cast<size_t>(b)]; }

// Display engine registers live in 0x60000..0x7FFFF on gen8/9 (transcoders, pipes, planes,
// cursors) plus the MMIO flip registers at 0x50080; the DE interrupt banks are at 0x44000..0x44FFF; PVINFO sits inside the display
// window and is classified first.
constexpr RegBlock classify(uint64_t off) {
  if (off >= kGttOffset) return RegBlock::Gtt;
  if (off >= kPvinfoOffset && off < kPvinfoOffset + kPvinfoSize) return RegBlock::Pvinfo;
  if (off >= kFenceBase && off < kFenceBase + kMaxFences * kFenceStride) return RegBlock::Fence;
  if (off >= 0x44000 && off < 0x45000) return RegBlock::Interrupt;
  if (off >= 0x60000 && off < 0x80000) return RegBlock::Display;
  if (off >= 0x50080 && off < 0x500A0) return RegBlock::Display;  // MMIO flip registers
  return RegBlock::Other;
}

}  // namespace vgd::hw
