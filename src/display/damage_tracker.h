// The device side of damage hints (docs/hardware.md, Damage hints): per pipe and plane (primary,
// sprite), the damage a guest submitted for its next flip (held) and the damage the next vblank
// reports (due). Policy only; the display engine calls it as flips latch and planes change.
#pragma once

#include <array>

#include "display/damage_set.h"
#include "hw/display.h"

namespace vgd::display {

inline constexpr uint32_t kHintedPlanes = 2;  // primary and sprite; the cursor has no hints
inline constexpr bool hinted_plane(hw::Plane p) { return p != hw::Plane::Cursor; }

class DamageTracker {
 public:
  bool enabled() const { return enabled_; }
  // damage_ctl.enable. Either edge makes every plane wholly damaged: what changed before hints
  // came on was never described, and after they go off consumers compare pixels again.
  void set_enabled(bool on);
  // A submit (already clipped to the plane): due at the next vblank, or held for the next flip.
  void submit(hw::Pipe p, hw::Plane pl, const DamageSet& d, bool with_flip);
  // A flip of the plane latched: what was held for it is due, or the whole plane when nothing
  // was (a guest that flips without describing the frame).
  void flip_latched(hw::Pipe p, hw::Plane pl);
  // The plane's geometry, format or enable changed (or its pipe's): all of it is due.
  void whole(hw::Pipe p, hw::Plane pl);
  void whole_pipe(hw::Pipe p);
  // What the vblank reports for the plane, cleared. Nothing while hints are off.
  DamageSet take_due(hw::Pipe p, hw::Plane pl);
  void reset() { *this = DamageTracker{}; }

 private:
  struct Slot {
    DamageSet held, due;
    bool holding = false;  // a submit for the next flip arrived (possibly of empty rects)
  };
  Slot& slot(hw::Pipe p, hw::Plane pl) { return slots_[hw::index(p)][static_cast<size_t>(pl)]; }
  std::array<std::array<Slot, kHintedPlanes>, hw::kPipeCount> slots_{};
  bool enabled_ = false;
};

}  // namespace vgd::display
