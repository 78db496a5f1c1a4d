#include "vgpu/ggtt_device.h"

#include "hw/bar.h"
#include "util/guest_error_log.h"

namespace vgd {

uint64_t GgttDevice::read(uint64_t rel, unsigned size) {
  const uint64_t pte = view_->guest_pte(rel / hw::kGttEntrySize);
  const uint64_t v = pte >> ((rel % hw::kGttEntrySize) * 8);
  return size == 8 ? v : v & ((1ull << (size * 8)) - 1);
}

void GgttDevice::write(uint64_t rel, unsigned size, uint64_t value) {
  VgpuCounters& c = ctx_->tally();
  const uint64_t index = rel / hw::kGttEntrySize;
  if (size != 4 && size != 8) {
    log_attack(c.attacks, GuestAttack::GgttNarrowWrite, ctx_->id(), "{}-byte write to GTT entry {} refused", size, index);
    return;
  }
  ++c.pte_writes;
  switch (view_->write(index, static_cast<unsigned>(rel % hw::kGttEntrySize), size, value, *ram_)) {
    case PteWrite::Mapped: break;
    case PteWrite::NotPresent: ++c.pte_not_present; break;
    case PteWrite::HalfPending: ++c.pte_half_pending; break;
    case PteWrite::BadFrame:
      log_attack(c.attacks, GuestAttack::GgttFrameOutsideRam, ctx_->id(), "GTT entry {} names frame {:#x} outside guest RAM: scratch",
                      index, hw::pte::kFrame.get(view_->guest_pte(index)));
      break;
    case PteWrite::Foreign:
      log_attack(c.attacks, GuestAttack::GgttForeignPte, ctx_->id(), "GTT entry {} (GM {:#x}) is not in this vGPU's slices: dropped",
                      index, index * kPageSize);
      break;
  }
}

}  // namespace vgd
