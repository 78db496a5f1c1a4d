#include "display/refresh.h"

namespace vgd::display {

using namespace hw;

ModeRegs mode_regs(const VregFile& regs, Pipe p) {
  return ModeRegs{regs.read32(pipe_reg(p, trans::kHtotal)), regs.read32(pipe_reg(p, trans::kVtotal)),
                  regs.read32(pipe_reg(p, trans::kLinkM1)), regs.read32(pipe_reg(p, trans::kLinkN1)),
                  regs.read32(dpll::kCtrl1),                regs.read32(dpll::kCtrl2)};
}

uint32_t refresh_mhz(const ModeRegs& m) {
  const uint32_t dpll_id = dpll::port_clock_select(dpll::kPortD).get(m.dpll_ctrl2);
  const uint64_t bitrate_khz = dpll::bitrate_khz(dpll::link_rate(dpll_id).get(m.dpll_ctrl1));
  const uint64_t link_m = trans::kLinkMN.get(m.link_m), link_n = trans::kLinkMN.get(m.link_n);
  const uint64_t htotal = uint64_t{trans::kTotal.get(m.htotal)} + 1;
  const uint64_t vtotal = uint64_t{trans::kTotal.get(m.vtotal)} + 1;
  if (!bitrate_khz || !link_m || !link_n || htotal < 2 || vtotal < 2) return 0;
  // pixel clock in Hz = M · bitrate / N; 24-bit M and N keep every product within 64 bits.
  const uint64_t pixel_hz = link_m * bitrate_khz * 1000 / link_n;
  const uint64_t total = htotal * vtotal;
  const uint64_t mhz = (pixel_hz * 1000 + total / 2) / total;
  // Anything outside 1..1000 Hz is not a display mode: treat as unknown rather than trust it.
  return mhz >= 1000 && mhz <= 1000000 ? static_cast<uint32_t>(mhz) : 0;
}


}  // namespace vgd::display
