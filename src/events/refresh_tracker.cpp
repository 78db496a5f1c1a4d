#include "events/refresh_tracker.h"

#include "events/event_value.h"

namespace vgd::events {

uint64_t RefreshTracker::on_vblank(const display::VblankReport& report) {
  uint64_t value = 0;
  for (hw::Pipe p : hw::kPipes) {
    const auto& in = report.pipes[hw::index(p)];
    PipeState& s = pipes_[hw::index(p)];
    if (!in.active) {
      value += on_pipe_state(p, false);
      continue;
    }
    if (!s.on) on_pipe_state(p, true);  // attached to a pipe that was already running
    // A plane the guest's damage hints name changed as surely as one that flipped.
    const uint8_t flipped = in.latched | in.async | in.damaged();
    for (hw::Plane pl : hw::kPlanes)
      if (pl != hw::Plane::Primary && (flipped & display::plane_bit(pl))) value += event_value(kind_of(pl));
    bool primary = (flipped & display::plane_bit(hw::Plane::Primary)) != 0 || s.fresh;
    s.fresh = false;
    if (primary) {
      s.idle = 0;
    } else if (in.hinted) {
      s.idle = 0;  // the guest describes every change: no guessing at front-buffer rendering
    } else if (s.idle > kFrontBufferThreshold) {
      primary = true;  // front-buffer rendering assumed: refresh every vblank
      ++guessed_[hw::index(p)];
    } else {
      ++s.idle;  // stops one past the threshold, so it cannot wrap
    }
    if (primary) value += kPrimaryEvent;
  }
  return value;
}

uint64_t RefreshTracker::on_pipe_state(hw::Pipe p, bool active) {
  PipeState& s = pipes_[hw::index(p)];
  if (active == s.on) return 0;
  s = PipeState{.on = active, .fresh = active, .idle = 0};
  return active ? 0 : kDisplayOffEvent;
}

}  // namespace vgd::events
