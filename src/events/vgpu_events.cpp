#include "events/vgpu_events.h"

namespace vgd::events {

VgpuEvents::VgpuEvents(Vgpu& v) : vgpu_(&v) {
  // Pipes already running count as just lit: their next vblank announces what they show, and
  // turning one off is reported.
  for (hw::Pipe p : hw::kPipes)
    if (v.display().active(p)) tracker_.on_pipe_state(p, true);
  v.set_vblank_listener([this](Vgpu&, const display::VblankReport& r) { hub_.publish(tracker_.on_vblank(r)); });
  v.set_pipe_state_listener([this](Vgpu&, hw::Pipe p, bool on) { hub_.publish(tracker_.on_pipe_state(p, on)); });
}

VgpuEvents::~VgpuEvents() {
  vgpu_->set_vblank_listener({});
  vgpu_->set_pipe_state_listener({});
}

}  // namespace vgd::events
