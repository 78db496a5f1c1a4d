// Display-engine interrupts (docs/hardware.md, Interrupts): per-pipe ISR/IMR/IIR/IER banks and the
// master register. Events set IIR bits unless masked; a bank with (IIR & IER) pending sets its
// master bit; with the master enabled the vGPU's interrupt sink fires (an MSI in a real VM).
#pragma once

#include <cstdint>
#include <functional>

#include "hw/display.h"
#include "hw/display_regs.h"
#include "mmio/device_context.h"
#include "mmio/register_device.h"
#include "util/unique_fd.h"

namespace vgd::display {

// Where a vGPU's interrupts go: a callback in-process, an eventfd (MSI-like) for a builtin
// guest, a level INTx line for a VM.
class InterruptSink {
 public:
  // An interrupt is pending and delivery is enabled (an edge: deliver one message).
  virtual void raise() = 0;
  // The line's level after every change of the interrupt registers: high while an enabled
  // interrupt pends (docs/hardware.md). Only level-triggered sinks care.
  virtual void set_level(bool high) { (void)high; }

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

// Register semantics (status read-only, IIR write-1-to-clear, the master's enable bit) are the
// rows of hw::kDeInterruptRegs; a write to a bank or the master re-evaluates delivery.
class DeInterrupts final : public RegisterDevice {
 public:
  // Writes that try to set status (ISR) or reserved master bits are counted in ctx's attacks.
  DeInterrupts(VregFile& regs, DeviceContext& ctx)
      : RegisterDevice(regs, hw::kDeInterruptBlock, hw::kDeInterruptRegs), ctx_(&ctx) {}
  void set_sink(InterruptSink* sink) { sink_ = sink; }

  // An event happened on pipe p (hw::irq bits).
  void inject(hw::Pipe p, uint32_t bits);

  uint64_t raised() const { return raised_; }

 private:
  void on_write(const RegWrite& w) override;
  // Recomputes the master's pending bits; raises the sink if it is enabled and anything pends.
  void update();
  uint32_t reg(uint64_t abs) const { return regs_->read32(abs); }

  DeviceContext* ctx_;
  InterruptSink* sink_ = nullptr;
  uint64_t raised_ = 0;
};

}  // namespace vgd::display
