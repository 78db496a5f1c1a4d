#include "display/damage_tracker.h"

namespace vgd::display {

void DamageTracker::set_enabled(bool on) {
  if (on == enabled_) return;
  enabled_ = on;
  for (auto& pipe : slots_)
    for (Slot& s : pipe) {
      s = Slot{};
      if (on) s.due.mark_whole();
    }
}

void DamageTracker::submit(hw::Pipe p, hw::Plane pl, const DamageSet& d, bool with_flip) {
  if (!enabled_ || !hinted_plane(pl)) return;
  Slot& s = slot(p, pl);
  if (!with_flip) return s.due.merge(d);
  s.held.merge(d);
  s.holding = true;
}

void DamageTracker::flip_latched(hw::Pipe p, hw::Plane pl) {
  if (!enabled_ || !hinted_plane(pl)) return;
  Slot& s = slot(p, pl);
  if (s.holding)
    s.due.merge(s.held);
  else
    s.due.mark_whole();
  s.held.clear();
  s.holding = false;
}

void DamageTracker::whole(hw::Pipe p, hw::Plane pl) {
  if (enabled_ && hinted_plane(pl)) slot(p, pl).due.mark_whole();
}

void DamageTracker::whole_pipe(hw::Pipe p) {
  whole(p, hw::Plane::Primary);
  whole(p, hw::Plane::Sprite);
}

DamageSet DamageTracker::take_due(hw::Pipe p, hw::Plane pl) {
  if (!hinted_plane(pl)) return {};
  DamageSet d = slot(p, pl).due;
  slot(p, pl).due.clear();
  return d;
}

}  // namespace vgd::display
