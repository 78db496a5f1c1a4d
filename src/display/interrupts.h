// Display-engine interrupts (docs/hardware.md, Interrupts): per-pipe ISR/IMR/IIR/IER banks and the
// master register. Events set IIR bits unless masked; a bank with (IIR & IER) pending sets its
// master bit; with the master enabled the vGPU's interrupt sink fires (an MSI in a real VM).
#pragma once

#include <cstdint>
#include <functional>

#include "hw/display.h"
#include "mmio/bus.h"
#include "mmio/vreg_file.h"
#include "util/unique_fd.h"

namespace vgd::display {

// Where a vGPU's interrupts go: a callback in-process, an eventfd (irqfd / MSI) for a VM.
class InterruptSink {
 public:
  virtual void raise() = 0;

 protected:
  ~InterruptSink() = default;
};

class CallbackSink final : public InterruptSink {
 public:
  explicit CallbackSink(std::function<void()> f) : f_(std::move(f)) {}
  void raise() override { f_(); }

 private:
  std::function<void()> f_;
};

class EventfdSink final : public InterruptSink {
 public:
  explicit EventfdSink(UniqueFd fd) : fd_(std::move(fd)) {}
  void raise() override;
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

class DeInterrupts final : public MmioDevice {
 public:
  static constexpr uint64_t kBase = 0x44000;
  static constexpr uint64_t kSize = 0x1000;

  explicit DeInterrupts(VregFile& regs) : regs_(&regs) {}
  void set_sink(InterruptSink* sink) { sink_ = sink; }

  // An event happened on pipe p (hw::irq bits).
  void inject(hw::Pipe p, uint32_t bits);

  uint64_t read(uint64_t rel, unsigned size) override;
  void write(uint64_t rel, unsigned size, uint64_t value) override;

  uint64_t raised() const { return raised_; }

 private:
  // Recomputes the master's pending bits; raises the sink if it is enabled and anything pends.
  void update();
  uint32_t reg(uint64_t abs) const { return regs_->read32(abs); }

  VregFile* regs_;
  InterruptSink* sink_ = nullptr;
  uint64_t raised_ = 0;
};

}  // namespace vgd::display
