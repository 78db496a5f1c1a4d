// Least privilege (docs/protocol.md §3.5, docs/design.md "What a consumer receives"): one
// ShadowFrames per plane of a vGPU, so that an untrusted consumer gets only host-owned, sealed,
// read-only copies of the planes' bytes, never a descriptor of guest RAM nor a dma-buf. A plane is
// copied at most once per change, on the first query after it, and every consumer that asks for
// it shares that copy (the primary's set also serves tearing = copy to trusted consumers).
// Not thread-safe: the caller serialises it with the vGPU (the daemon's device lock); the copies
// themselves run outside it (ShadowFrames::run).
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "exporter/tearing.h"

namespace vgd::exporter {

class PlaneCopies {
 public:
  // `budget_bytes` bounds the primary's two shadows and the sprite's (0: the type's default);
  // the cursor's are bounded by ShadowFrames::default_budget(type, Cursor).
  PlaneCopies(std::weak_ptr<const GuestRam> ram, const VgpuType& type, uint64_t budget_bytes = 0);

  // Each plane's ids come from its own quarter-or-more of kShadowIds, so they never collide.
  static constexpr bool owns(uint32_t id) { return ShadowFrames::owns(id); }
  static constexpr IdRange ids_of(hw::Plane p) {
    const uint32_t i = static_cast<uint32_t>(p);
    return IdRange{kShadowIds.first + i * kIdsPerPlane,
                   i + 1 == hw::kPlaneCount ? kShadowIds.last : kShadowIds.first + (i + 1) * kIdsPerPlane - 1};
  }

  ShadowFrames& of(hw::Plane p) { return *sets_[static_cast<size_t>(p)]; }
  const ShadowFrames& of(hw::Plane p) const { return *sets_[static_cast<size_t>(p)]; }
  // The set whose range holds `id` (nullptr outside kShadowIds).
  ShadowFrames* owner(uint32_t id);

  // The vGPU's latch listener and RAM replacement, for every plane (ShadowFrames::on_vblank, set_ram).
  void on_vblank(const Vgpu& v, const display::VblankReport& r);
  void set_ram(const std::weak_ptr<const GuestRam>& ram, bool layout_changed);
  void forget(ConsumerKey who);
  // References `who` holds on copies of every plane.
  uint32_t references_by(ConsumerKey who) const;
  // Some plane's copy reads the guest surface at `base` (the flip-done gate asks).
  bool copying(Gma base) const;

  // Every plane's counters, summed.
  TearingCounters counters() const;

 private:
  static constexpr uint32_t kIdsPerPlane = (kShadowIds.last - kShadowIds.first) / hw::kPlaneCount;
  std::array<std::unique_ptr<ShadowFrames>, hw::kPlaneCount> sets_;
};

}  // namespace vgd::exporter
