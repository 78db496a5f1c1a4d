// Refresh events of one vGPU, wired up: a RefreshTracker fed by the vGPU's vblanks and pipe
// on/off edges, publishing into an EventHub that consumers register with.
//
// Takes the vGPU's vblank listener and pipe-state listener slots (one of each per vGPU) and
// gives them back empty when destroyed; must be destroyed before its vGPU. Runs wherever the
// vGPU's vblanks and MMIO run, and is serialised with them by the same caller.
#pragma once

#include "events/event_hub.h"
#include "events/event_value.h"
#include "events/refresh_tracker.h"
#include "vgpu/vgpu.h"

namespace vgd::events {

class VgpuEvents {
 public:
  explicit VgpuEvents(Vgpu& v);
  ~VgpuEvents();
  VgpuEvents(const VgpuEvents&) = delete;  // the vGPU's listeners point here
  VgpuEvents& operator=(const VgpuEvents&) = delete;

  Vgpu& vgpu() const { return *vgpu_; }
  EventHub& hub() { return hub_; }
  const EventHub& hub() const { return hub_; }
  const RefreshTracker& tracker() const { return tracker_; }
  // CLOCK_MONOTONIC time of what the newest event reports: the vblank's nominal time, or when a
  // pipe went off. Consumers subtract it from their wake-up time to see the delivery latency.
  uint64_t last_event_ns() const { return last_event_ns_; }

 private:
  void publish(uint64_t value, uint64_t vblank_ns);
  uint64_t last_event_ns_ = 0;
  Vgpu* vgpu_;
  RefreshTracker tracker_;
  EventHub hub_;
};

}  // namespace vgd::events
