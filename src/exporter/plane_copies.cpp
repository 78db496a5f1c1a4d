#include "exporter/plane_copies.h"

#include <algorithm>

namespace vgd::exporter {

PlaneCopies::PlaneCopies(std::weak_ptr<const GuestRam> ram, const VgpuType& type, uint64_t budget_bytes) {
  for (hw::Plane p : hw::kPlanes)
    sets_[static_cast<size_t>(p)] =
        std::make_unique<ShadowFrames>(ram, type, p == hw::Plane::Cursor ? 0 : budget_bytes, p, ids_of(p));
}

ShadowFrames* PlaneCopies::owner(uint32_t id) {
  for (hw::Plane p : hw::kPlanes)
    if (ids_of(p).contains(id)) return &of(p);
  return nullptr;
}

void PlaneCopies::on_vblank(const Vgpu& v, const display::VblankReport& r) {
  for (auto& s : sets_) s->on_vblank(v, r);
}

void PlaneCopies::set_ram(const std::weak_ptr<const GuestRam>& ram, bool layout_changed) {
  for (auto& s : sets_) s->set_ram(ram, layout_changed);
}

uint32_t PlaneCopies::references_by(ConsumerKey who) const {
  uint32_t n = 0;
  for (const auto& s : sets_) n += s->references_by(who);
  return n;
}

void PlaneCopies::forget(ConsumerKey who) {
  for (auto& s : sets_) s->forget(who);
}

bool PlaneCopies::copying(Gma base) const {
  return std::any_of(sets_.begin(), sets_.end(), [base](const auto& s) { return s->copying(base); });
}

TearingCounters PlaneCopies::counters() const {
  TearingCounters t;
  for (const auto& s : sets_) {
    const TearingCounters& c = s->counters();
    t.copies += c.copies, t.copy_skipped += c.copy_skipped, t.copy_failures += c.copy_failures;
    t.copy_over_budget += c.copy_over_budget, t.copy_bytes += c.copy_bytes, t.copy_ns_total += c.copy_ns_total;
    t.copy_ns_max = std::max(t.copy_ns_max, c.copy_ns_max);
  }
  t.copy_ns_last = of(hw::Plane::Primary).counters().copy_ns_last;
  return t;
}

}  // namespace vgd::exporter
