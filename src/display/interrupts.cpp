#include "display/interrupts.h"

#include <unistd.h>

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

void DeInterrupts::on_write(const RegWrite& w) {
  if (w.row->offset == irq::isr(Pipe::A)) return;  // read-only: nothing changed
  update();
}

}  // namespace vgd::display
