#include "events/vgpu_events.h"

#include <ctime>

namespace vgd::events {

VgpuEvents::VgpuEvents(Vgpu& v, const display::VblankClock* clock) : vgpu_(&v), clock_(clock) {
  // Pipes already running count as just lit: their next vblank announces what they show, and
  // turning one off is reported.
  for (hw::Pipe p : hw::kPipes)
    if (v.display().active(p)) tracker_.on_pipe_state(p, true);
  v.set_vblank_listener([this](Vgpu& g, const display::VblankReport& r) {
    damage_.on_vblank(r);
    publish(tracker_.on_vblank(r), g.last_vblank_ns());
  });
  v.set_pipe_state_listener([this](Vgpu&, hw::Pipe p, bool on) {
    damage_.on_pipe_state();
    publish(tracker_.on_pipe_state(p, on), 0);
  });
}

namespace {
uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

void VgpuEvents::publish(uint64_t value, uint64_t vblank_ns) {
  if (value == 0) return;
  const bool from_clock = vblank_ns != 0;
  if (!from_clock) vblank_ns = monotonic_ns();  // a pipe turned off, or a hand-made vblank: now
  last_event_ns_ = vblank_ns;
  hub_.publish(value);
  if (from_clock) {
    const uint64_t now = clock_ ? clock_->now_ns() : monotonic_ns();
    latency_.record(now > vblank_ns ? now - vblank_ns : 0);
  }
}

VgpuEvents::~VgpuEvents() {
  vgpu_->set_vblank_listener({});
  vgpu_->set_pipe_state_listener({});
}

}  // namespace vgd::events
