// The PVINFO page (docs/hardware.md, PVINFO): populated by the host, read by the guest to learn its
// resources, written by the guest only at a few whitelisted fields.
#pragma once

#include "display/display_engine.h"
#include "memory/partition.h"
#include "mmio/bus.h"
#include "mmio/vreg_file.h"
#include "mmio/device_context.h"

namespace vgd {

class PvinfoDevice final : public MmioDevice {
 public:
  PvinfoDevice(DeviceContext& ctx, VregFile& vregs) : ctx_(&ctx), vregs_(&vregs) {}

  // Where damage hints go (docs/hardware.md, Damage hints); set once, before any access.
  void attach(display::DisplayEngine& engine) { engine_ = &engine; }
  // Whether vgt_caps offers damage hints (from the next populate()); without them the damage
  // registers are reserved like the rest of the page.
  void offer_damage_hints(bool on) { damage_offered_ = on; }

  // Fills the host->guest half and resets the guest->host half (create and device reset).
  void populate(const VgpuResources& res);

  uint64_t read(uint64_t rel, unsigned size) override;
  void write(uint64_t rel, unsigned size, uint64_t value) override;

 private:
  void store(uint64_t rel, unsigned size, uint64_t value);
  void damage_ctl(uint32_t value);
  void damage_submit(uint32_t value);
  DeviceContext* ctx_;
  display::DisplayEngine* engine_ = nullptr;
  bool damage_offered_ = true;
  VregFile* vregs_;
};

}  // namespace vgd
