#include "events/vgpu_events.h"

#include <ctime>

namespace vgd::events {

VgpuEvents::VgpuEvents(Vgpu& v) : vgpu_(&v) {
  // Pipes already running count as just lit: their next vblank announces what they show, and
  // turning one off is reported.
  for (hw::Pipe p : hw::kPipes)
    if (v.display().active(p)) tracker_.on_pipe_state(p, true);
  v.set_vblank_listener([this](Vgpu& g, const display::VblankReport& r) { publish(tracker_.on_vblank(r), g.last_vblank_ns()); });
  v.set_pipe_state_listener([this](Vgpu&, hw::Pipe p, bool on) { publish(tracker_.on_pipe_state(p, on), 0); });
}

void VgpuEvents::publish(uint64_t value, uint64_t vblank_ns) {
  if (value == 0) return;
  if (vblank_ns == 0) {  // not from the clock (a pipe turned off, or a hand-made vblank): now
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    vblank_ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
  }
  last_event_ns_ = vblank_ns;
  hub_.publish(value);
}

VgpuEvents::~VgpuEvents() {
  vgpu_->set_vblank_listener({});
  vgpu_->set_pipe_state_listener({});
}

}  // namespace vgd::events
