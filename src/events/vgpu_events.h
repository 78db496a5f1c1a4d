// Refresh events of one vGPU, wired up: a RefreshTracker fed by the vGPU's vblanks and pipe
// on/off edges, publishing into an EventHub that consumers register with.
//
// Takes the vGPU's vblank listener and pipe-state listener slots (one of each per vGPU) and
// gives them back empty when destroyed; must be destroyed before its vGPU. Runs wherever the
// vGPU's vblanks and MMIO run, and is serialised with them by the same caller.
#pragma once

#include "display/vblank_clock.h"
#include "events/damage_log.h"
#include "events/event_hub.h"
#include "events/event_value.h"
#include "events/refresh_tracker.h"
#include "util/histogram.h"
#include "vgpu/vgpu.h"

namespace vgd::events {

class VgpuEvents {
 public:
  // `clock`: what the vGPU's vblanks run on, read for the latency histogram; nullptr means
  // CLOCK_MONOTONIC, the time base of the daemon's RealClock.
  explicit VgpuEvents(Vgpu& v, const display::VblankClock* clock = nullptr);
  ~VgpuEvents();
  VgpuEvents(const VgpuEvents&) = delete;  // the vGPU's listeners point here
  VgpuEvents& operator=(const VgpuEvents&) = delete;

  Vgpu& vgpu() const { return *vgpu_; }
  EventHub& hub() { return hub_; }
  const EventHub& hub() const { return hub_; }
  const RefreshTracker& tracker() const { return tracker_; }
  // Damage hints per consumer, up to date before each vblank's events are published.
  DamageLog& damage() { return damage_; }
  // CLOCK_MONOTONIC time of what the newest event reports: the vblank's nominal time, or when a
  // pipe went off. Consumers subtract it from their wake-up time to see the delivery latency.
  uint64_t last_event_ns() const { return last_event_ns_; }
  // For events the vblank clock produced: from the vblank's deadline to every eventfd written
  // (what the daemon itself adds to a consumer's latency). Hand-made vblanks and pipe-off
  // events have no deadline and are not recorded.
  const Histogram& latency() const { return latency_; }

 private:
  void publish(uint64_t value, uint64_t vblank_ns);
  uint64_t last_event_ns_ = 0;
  Histogram latency_ = latency_histogram();
  Vgpu* vgpu_;
  const display::VblankClock* clock_;
  RefreshTracker tracker_;
  DamageLog damage_;
  EventHub hub_;
};

}  // namespace vgd::events
