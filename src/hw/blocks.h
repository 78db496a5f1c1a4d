// Register blocks of BAR0, declared once: where each emulated device sits (the bus registration
// uses these) and which part of the device a guest is touching (trap accounting).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "hw/bar.h"
#include "hw/pvinfo.h"

namespace vgd::hw {

// A range of BAR0 offsets.
struct BlockRange {
  uint64_t base;
  uint64_t size;

  constexpr uint64_t end() const { return base + size; }
  constexpr bool contains(uint64_t off) const { return off >= base && off - base < size; }
};

// gen8+ display-engine interrupt banks (master at 0x44200, per-pipe banks at 0x44400).
inline constexpr BlockRange kDeInterruptBlock{0x44000, 0x1000};
// Transcoders, pipes, planes and cursors (0x60000..0x7FFFF on gen8/9), PVINFO inside.
inline constexpr BlockRange kDisplayWindow{0x60000, 0x20000};
// The display engine's part of that window: everything below PVINFO.
inline constexpr BlockRange kDisplayEngineBlock{kDisplayWindow.base, kPvinfoOffset - kDisplayWindow.base};
// The MMIO flip registers (0x50080 family).
inline constexpr BlockRange kMmioFlipBlock{0x50080, 0x20};
inline constexpr BlockRange kPvinfoBlock{kPvinfoOffset, kPvinfoSize};
inline constexpr BlockRange kFenceBlock{kFenceBase, kMaxFences * kFenceStride};

enum class RegBlock : uint8_t { Interrupt, Display, Pvinfo, Fence, Gtt, Other };
inline constexpr size_t kRegBlockCount = 6;

inline constexpr std::array<std::string_view, kRegBlockCount> kRegBlockNames = {
    "interrupt", "display", "pvinfo", "fence", "gtt", "other"};

constexpr std::string_view name(RegBlock b) { return kRegBlockNames[static_cast<size_t>(b)]; }

// PVINFO sits inside the display window and is classified first.
constexpr RegBlock classify(uint64_t off) {
  if (off >= kGttOffset) return RegBlock::Gtt;
  if (kPvinfoBlock.contains(off)) return RegBlock::Pvinfo;
  if (kFenceBlock.contains(off)) return RegBlock::Fence;
  if (kDeInterruptBlock.contains(off)) return RegBlock::Interrupt;
  if (kDisplayWindow.contains(off) || kMmioFlipBlock.contains(off)) return RegBlock::Display;
  return RegBlock::Other;
}

}  // namespace vgd::hw
