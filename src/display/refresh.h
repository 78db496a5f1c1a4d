// The mode a guest programmed (docs/hardware.md, Refresh rate): its size, and its refresh rate
// from the DP link M/N and the link rate of the DPLL driving the virtual port, divided by
// htotal × vtotal. Pure.
#pragma once

#include <cstdint>

#include "hw/display.h"
#include "mmio/vreg_file.h"

namespace vgd::display {

struct ModeRegs {
  uint32_t htotal = 0, vtotal = 0;   // TRANS_HTOTAL / TRANS_VTOTAL
  uint32_t pipesrc = 0;              // PIPESRC
  uint32_t link_m = 0, link_n = 0;   // PIPE_LINK_M1 / N1
  uint32_t dpll_ctrl1 = 0, dpll_ctrl2 = 0;
};

ModeRegs mode_regs(const VregFile& regs, hw::Pipe p);

// The largest mode a vGPU may light: its type's maximum resolution (docs/design.md "Display").
struct ModeLimits {
  uint32_t max_width = 0, max_height = 0;
};

// The mode's size: the larger of the pipe source (what the primary shows) and the transcoder's
// active area, per axis, so neither register can carry a larger mode past the limit.
struct ModeSize {
  uint32_t width = 0, height = 0;
};
ModeSize mode_size(const ModeRegs& m);
inline bool fits(ModeSize s, ModeLimits l) { return s.width <= l.max_width && s.height <= l.max_height; }

// The refresh rates a vblank timer runs at (docs/design.md "Display"): a mode outside is clamped.
inline constexpr uint32_t kMinRefreshMhz = 24'000, kMaxRefreshMhz = 240'000;

// What the timings ask for in milli-Hz (at least 1), or 0 when they describe no mode (a zero
// link M, N or bit rate, or a total of one pixel).
uint64_t programmed_refresh_mhz(const ModeRegs& m);
// The rate the vblank timer runs at for that: clamped into kMin..kMaxRefreshMhz; 0 stays 0 (the
// vblank clock's default rate).
uint32_t clamp_refresh_mhz(uint64_t programmed_mhz);
// clamp_refresh_mhz(programmed_refresh_mhz(m)).
uint32_t refresh_mhz(const ModeRegs& m);

}  // namespace vgd::display
