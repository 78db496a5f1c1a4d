// Guest fence registers (docs/hardware.md, Fences): guest fence i at 0x100000 + 8·i is backed by
// the host fence register the partitioner gave this vGPU for slot i. Slots beyond the allocation
// are refused; touching one without ever having read PVINFO marks a guest that does not know it
// runs on a vGPU, and the vGPU goes failsafe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mmio/bus.h"
#include "mmio/vreg_file.h"
#include "mmio/device_context.h"

namespace vgd {

class FenceDevice final : public MmioDevice {
 public:
  FenceDevice(DeviceContext& ctx, VregFile& vregs, std::span<uint64_t> host_regs,
              std::vector<uint32_t> host_index)
      : ctx_(&ctx), vregs_(&vregs), host_regs_(host_regs), host_index_(std::move(host_index)) {}

  uint64_t read(uint64_t rel, unsigned size) override;
  void write(uint64_t rel, unsigned size, uint64_t value) override;

  // Device reset: guest and host registers cleared.
  void clear();

 private:
  bool allowed(uint64_t rel, unsigned size);
  DeviceContext* ctx_;
  VregFile* vregs_;
  std::span<uint64_t> host_regs_;
  std::vector<uint32_t> host_index_;
};

}  // namespace vgd
