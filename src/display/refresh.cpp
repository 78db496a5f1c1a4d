#include "display/refresh.h"

#include <algorithm>

namespace vgd::display {

using namespace hw;

ModeRegs mode_regs(const VregFile& regs, Pipe p) {
  ModeRegs m;
  m.htotal = regs.read32(pipe_reg(p, trans::kHtotal));
  m.vtotal = regs.read32(pipe_reg(p, trans::kVtotal));
  m.pipesrc = regs.read32(pipe_reg(p, trans::kPipeSrc));
  m.link_m = regs.read32(pipe_reg(p, trans::kLinkM1));
  m.link_n = regs.read32(pipe_reg(p, trans::kLinkN1));
  m.dpll_ctrl1 = regs.read32(dpll::kCtrl1);
  m.dpll_ctrl2 = regs.read32(dpll::kCtrl2);
  return m;
}

ModeSize mode_size(const ModeRegs& m) {
  return {std::max(trans::kSrcWidth.get(m.pipesrc), trans::kActive.get(m.htotal)) + 1,
          std::max(trans::kSrcHeight.get(m.pipesrc), trans::kActive.get(m.vtotal)) + 1};
}

uint64_t programmed_refresh_mhz(const ModeRegs& m) {
  const uint32_t dpll_id = dpll::port_clock_select(dpll::kPortD).get(m.dpll_ctrl2);
  const uint64_t bitrate_khz = dpll::bitrate_khz(dpll::link_rate(dpll_id).get(m.dpll_ctrl1));
  const uint64_t link_m = trans::kLinkMN.get(m.link_m), link_n = trans::kLinkMN.get(m.link_n);
  const uint64_t htotal = uint64_t{trans::kTotal.get(m.htotal)} + 1;
  const uint64_t vtotal = uint64_t{trans::kTotal.get(m.vtotal)} + 1;
  if (!bitrate_khz || !link_m || !link_n || htotal < 2 || vtotal < 2) return 0;
  // pixel clock in Hz = M · bitrate / N; a 24-bit M and at most 540,000 kHz keep pixel_hz below
  // 10^16, so pixel_hz · 1000 still fits 64 bits.
  const uint64_t pixel_hz = link_m * bitrate_khz * 1000 / link_n;
  const uint64_t total = htotal * vtotal;
  // Timings so slow they round to 0 mHz still describe a mode: 1 mHz, clamped and counted like
  // any absurd rate, never mistaken for "no mode".
  return std::max<uint64_t>(1, (pixel_hz * 1000 + total / 2) / total);
}

uint32_t clamp_refresh_mhz(uint64_t programmed_mhz) {
  if (programmed_mhz == 0) return 0;
  return static_cast<uint32_t>(std::clamp<uint64_t>(programmed_mhz, kMinRefreshMhz, kMaxRefreshMhz));
}

uint32_t refresh_mhz(const ModeRegs& m) { return clamp_refresh_mhz(programmed_refresh_mhz(m)); }

}  // namespace vgd::display
