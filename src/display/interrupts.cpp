#include "display/interrupts.h"

#include <unistd.h>

#include "util/guest_error_log.h"

namespace vgd::display {

using namespace hw;

void EventfdSink::raise() {
  const uint64_t one = 1;
  // A full counter (2^64-2 unread) cannot happen with a reader; nothing useful to do on error.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
}

void DeInterrupts::inject(Pipe p, uint32_t bits) {
  regs_->write32(irq::isr(p), reg(irq::isr(p)) | bits);
  const uint32_t unmasked = bits & ~reg(irq::imr(p));
  if (!unmasked) return;
  regs_->write32(irq::iir(p), reg(irq::iir(p)) | unmasked);
  update();
}

void DeInterrupts::update() {
  uint32_t master = reg(irq::kMaster) & irq::kMasterEnable;
  for (Pipe p : kPipes)
    if (reg(irq::iir(p)) & reg(irq::ier(p))) master |= irq::master_pipe_bit(p);
  regs_->write32(irq::kMaster, master);
  const bool high = (master & irq::kMasterEnable) && (master & ~irq::kMasterEnable);
  if (!sink_) return;
  if (high) {
    ++raised_;
    sink_->raise();
  }
  sink_->set_level(high);
}

// A write of any width changes only the bytes it covers (the table kept every bit the guest may
// not change); what is left to do is count a guest that tried (docs/hardware.md, Interrupts).
void DeInterrupts::on_write(const RegWrite& w) {
  if (w.row->offset == irq::isr(Pipe::A)) {
    if (const uint32_t bits = w.tried_to_set(w.row->ro))
      log_attack(ctx_->tally().attacks, GuestAttack::IrqStatusWrite, ctx_->id(),
                 "write of {:#x} to pipe {} ISR (read-only): dropped", bits, letter(static_cast<Pipe>(w.instance)));
    return;  // nothing changed
  }
  if (w.row->offset == irq::kMaster)
    if (const uint32_t bits = w.asked & w.written & w.row->reserved)
      log_attack(ctx_->tally().attacks, GuestAttack::IrqMasterReserved, ctx_->id(),
                 "reserved master interrupt bits {:#x} written: dropped", bits);
  update();
}

}  // namespace vgd::display
