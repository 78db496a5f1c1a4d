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
  if ((master & irq::kMasterEnable) && (master & ~irq::kMasterEnable) && sink_) {
    ++raised_;
    sink_->raise();
  }
}

uint64_t DeInterrupts::read(uint64_t rel, unsigned size) { return regs_->read(kBase + rel, size); }

void DeInterrupts::write(uint64_t rel, unsigned size, uint64_t value) {
  const uint64_t abs = kBase + rel;
  if (size == 4) {
    const auto v = static_cast<uint32_t>(value);
    for (Pipe p : kPipes) {
      if (abs == irq::iir(p)) {  // write 1 to clear
        regs_->write32(abs, reg(abs) & ~v);
        update();
        return;
      }
      if (abs == irq::isr(p)) return;  // status is read-only
      if (abs == irq::imr(p) || abs == irq::ier(p)) {
        regs_->write32(abs, v);
        update();
        return;
      }
    }
    if (abs == irq::kMaster) {  // only the enable bit is the guest's
      regs_->write32(abs, (reg(abs) & ~irq::kMasterEnable) | (v & irq::kMasterEnable));
      update();
      return;
    }
  }
  regs_->write(abs, size, value);
}

}  // namespace vgd::display
