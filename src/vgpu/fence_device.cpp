#include "vgpu/fence_device.h"

#include "hw/bar.h"
#include "util/guest_error_log.h"

namespace vgd {

bool FenceDevice::allowed(uint64_t rel, unsigned size) {
  const uint64_t index = rel / hw::kFenceStride;
  if (index < host_index_.size() && (rel % hw::kFenceStride) + size <= hw::kFenceStride) return true;
  log_attack(ctx_->tally().attacks, GuestAttack::FenceOutOfRange, ctx_->id(),
                  "fence register {} beyond the {} allocated", index, host_index_.size());
  if (!ctx_->pv_aware()) ctx_->enter_failsafe(FailsafeReason::UnsupportedGuest);
  return false;
}

uint64_t FenceDevice::read(uint64_t rel, unsigned size) {
  if (!allowed(rel, size)) return 0;
  return vregs_->read(hw::kFenceBase + rel, size);
}

void FenceDevice::write(uint64_t rel, unsigned size, uint64_t value) {
  if (!allowed(rel, size)) return;
  vregs_->write(hw::kFenceBase + rel, size, value);
  const uint64_t index = rel / hw::kFenceStride;
  host_regs_[host_index_[index]] = vregs_->read(hw::kFenceBase + index * hw::kFenceStride, 8);
}

void FenceDevice::clear() {
  for (size_t i = 0; i < host_index_.size(); ++i) {
    vregs_->write(hw::kFenceBase + i * hw::kFenceStride, 8, 0);
    host_regs_[host_index_[i]] = 0;
  }
}

}  // namespace vgd
