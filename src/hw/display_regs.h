// The display registers the vGPU emulates and how a guest write treats each of their bits: one
// row per register (per-pipe registers once, with their stride), applied by the one generic
// write path (mmio/register_device.h). Rows without masks are plain storage the host reads.
#pragma once

#include <array>

#include "hw/blocks.h"
#include "hw/display.h"
#include "hw/register.h"

namespace vgd::hw {

namespace regs_detail {
// A per-pipe register: three instances, one per pipe block.
constexpr RegInfo per_pipe(RegInfo r) {
  r.count = kPipeCount;
  r.stride = kPipeStride;
  return r;
}
// A register of the per-pipe interrupt banks (one bank per 0x10).
constexpr RegInfo per_bank(RegInfo r) {
  r.count = kPipeCount;
  r.stride = irq::isr(Pipe::B) - irq::isr(Pipe::A);
  return r;
}
// The same register of universal plane n (1 primary, 2 sprite).
constexpr uint64_t pl(uint32_t n, uint64_t r) { return plane::reg(Pipe::A, n, r); }
inline constexpr uint32_t kAll = 0xFFFFFFFFu;
inline constexpr uint32_t kMasterPipes =
    irq::master_pipe_bit(Pipe::A) | irq::master_pipe_bit(Pipe::B) | irq::master_pipe_bit(Pipe::C);
}  // namespace regs_detail

// Interrupt banks: status is read-only, IIR is write-1-to-clear, and of the master only the
// enable bit is the guest's; its pipe bits roll up from the banks, the rest is not modelled.
inline constexpr std::array kDeInterruptRegs = {
    RegInfo{.name = "MASTER_IRQ", .offset = irq::kMaster, .host = regs_detail::kMasterPipes,
            .reserved = ~(irq::kMasterEnable | regs_detail::kMasterPipes)},
    regs_detail::per_bank({.name = "DE_PIPE_ISR", .offset = irq::isr(Pipe::A), .ro = regs_detail::kAll}),
    regs_detail::per_bank({.name = "DE_PIPE_IMR", .offset = irq::imr(Pipe::A)}),
    regs_detail::per_bank({.name = "DE_PIPE_IIR", .offset = irq::iir(Pipe::A), .w1c = regs_detail::kAll}),
    regs_detail::per_bank({.name = "DE_PIPE_IER", .offset = irq::ier(Pipe::A)}),
};

// Transcoders, pipes, planes and cursors. The pipe's state bit, the counters and the SURFLIVE
// registers are the host's: a guest (even a failsafe one) never moves them.
inline constexpr std::array kDisplayRegs = {
    regs_detail::per_pipe({.name = "TRANS_HTOTAL", .offset = trans::kHtotal}),
    regs_detail::per_pipe({.name = "TRANS_VTOTAL", .offset = trans::kVtotal}),
    regs_detail::per_pipe({.name = "PIPESRC", .offset = trans::kPipeSrc}),
    regs_detail::per_pipe({.name = "LINK_M1", .offset = trans::kLinkM1}),
    regs_detail::per_pipe({.name = "LINK_N1", .offset = trans::kLinkN1}),
    RegInfo{.name = "DPLL_CTRL1", .offset = dpll::kCtrl1},
    RegInfo{.name = "DPLL_CTRL2", .offset = dpll::kCtrl2},
    regs_detail::per_pipe({.name = "PIPECONF", .offset = pipe::kConf, .host = pipe::kActive.mask()}),
    regs_detail::per_pipe({.name = "PIPE_FRMCOUNT", .offset = pipe::kFrameCount, .host = regs_detail::kAll}),
    regs_detail::per_pipe({.name = "PIPE_FLIPCOUNT", .offset = pipe::kFlipCount, .host = regs_detail::kAll}),
    regs_detail::per_pipe({.name = "CURCNTR", .offset = cursor::kCntr}),
    regs_detail::per_pipe({.name = "CURBASE", .offset = cursor::kBase}),  // write = cursor flip
    regs_detail::per_pipe({.name = "CURPOS", .offset = cursor::kPos}),
    regs_detail::per_pipe({.name = "CURSURFLIVE", .offset = cursor::kSurfLive, .host = regs_detail::kAll}),
    regs_detail::per_pipe({.name = "PLANE_CTL_1", .offset = regs_detail::pl(1, plane::kCtl)}),
    regs_detail::per_pipe({.name = "PLANE_STRIDE_1", .offset = regs_detail::pl(1, plane::kStride)}),
    regs_detail::per_pipe({.name = "PLANE_POS_1", .offset = regs_detail::pl(1, plane::kPos)}),
    regs_detail::per_pipe({.name = "PLANE_SIZE_1", .offset = regs_detail::pl(1, plane::kSize)}),
    regs_detail::per_pipe({.name = "PLANE_SURF_1", .offset = regs_detail::pl(1, plane::kSurf)}),  // write = flip
    regs_detail::per_pipe({.name = "PLANE_OFFSET_1", .offset = regs_detail::pl(1, plane::kOffset)}),
    regs_detail::per_pipe(
        {.name = "PLANE_SURFLIVE_1", .offset = regs_detail::pl(1, plane::kSurfLive), .host = regs_detail::kAll}),
    regs_detail::per_pipe({.name = "PLANE_CTL_2", .offset = regs_detail::pl(2, plane::kCtl)}),
    regs_detail::per_pipe({.name = "PLANE_STRIDE_2", .offset = regs_detail::pl(2, plane::kStride)}),
    regs_detail::per_pipe({.name = "PLANE_POS_2", .offset = regs_detail::pl(2, plane::kPos)}),
    regs_detail::per_pipe({.name = "PLANE_SIZE_2", .offset = regs_detail::pl(2, plane::kSize)}),
    regs_detail::per_pipe({.name = "PLANE_SURF_2", .offset = regs_detail::pl(2, plane::kSurf)}),  // write = flip
    regs_detail::per_pipe({.name = "PLANE_OFFSET_2", .offset = regs_detail::pl(2, plane::kOffset)}),
    regs_detail::per_pipe(
        {.name = "PLANE_SURFLIVE_2", .offset = regs_detail::pl(2, plane::kSurfLive), .host = regs_detail::kAll}),
};

// The 0x50080 flip registers: a write of any of them is a flip of its pipe's plane.
inline constexpr std::array kMmioFlipRegs = {
    RegInfo{.name = "PRI_FLIP_A", .offset = mmio_flip::kPrimary[0]},
    RegInfo{.name = "PRI_FLIP_B", .offset = mmio_flip::kPrimary[1]},
    RegInfo{.name = "PRI_FLIP_C", .offset = mmio_flip::kPrimary[2]},
    RegInfo{.name = "SPR_FLIP_A", .offset = mmio_flip::kSprite[0]},
    RegInfo{.name = "SPR_FLIP_B", .offset = mmio_flip::kSprite[1]},
    RegInfo{.name = "SPR_FLIP_C", .offset = mmio_flip::kSprite[2]},
};

static_assert(well_formed(kDeInterruptRegs, kDeInterruptBlock.base, kDeInterruptBlock.end()));
static_assert(well_formed(kDisplayRegs, kDisplayEngineBlock.base, kDisplayEngineBlock.end()));
static_assert(well_formed(kMmioFlipRegs, kMmioFlipBlock.base, kMmioFlipBlock.end()));

}  // namespace vgd::hw
