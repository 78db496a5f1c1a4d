// Guest writes to GTT entries in BAR0 (docs/hardware.md, GGTT): validated against the vGPU's slices
// and translated into the host view; reads return the guest view.
#pragma once

#include "memory/ggtt_view.h"
#include "memory/guest_ram.h"
#include "mmio/bus.h"
#include "mmio/device_context.h"

namespace vgd {

class GgttDevice final : public MmioDevice {
 public:
  GgttDevice(DeviceContext& ctx, GgttView& view, const GuestRam& ram) : ctx_(&ctx), view_(&view), ram_(&ram) {}

  // The VM's RAM was replaced (Vgpu::replace_ram): later PTE writes translate through `ram`.
  void set_ram(const GuestRam& ram) { ram_ = &ram; }

  uint64_t read(uint64_t rel, unsigned size) override;
  void write(uint64_t rel, unsigned size, uint64_t value) override;

 private:
  DeviceContext* ctx_;
  GgttView* view_;
  const GuestRam* ram_;
};

}  // namespace vgd
