// The refresh rate a guest programmed (docs/hardware.md, Refresh rate), pure: pixel clock from
// the DP link M/N and the link rate of the virtual port's DPLL, divided by htotal × vtotal.
#pragma once

#include <cstdint>

#include "hw/display.h"
#include "mmio/vreg_file.h"

namespace vgd::display {


struct ModeRegs {
  uint32_t htotal = 0, vtotal = 0;   // TRANS_HTOTAL / TRANS_VTOTAL
  uint32_t link_m = 0, link_n = 0;   // PIPE_LINK_M1 / N1
  uint32_t dpll_ctrl1 = 0, dpll_ctrl2 = 0;
};

ModeRegs mode_regs(const VregFile& regs, hw::Pipe p);

// Refresh in milli-Hz, or 0 when the registers do not describe a mode.
uint32_t refresh_mhz(const ModeRegs& m);

}  // namespace vgd::display
