// Which refresh events one vblank (or one pipe turning off) means for consumers of a vGPU's
// display (docs/protocol.md §5). Pure policy: reports in, an event value (event_value.h) out.
//
// Per ENABLED pipe, at each vblank:
//  * a primary / sprite / cursor event for each plane whose synchronous flip latched at this
//    vblank or that flipped asynchronously since the previous one (at most one of each kind per
//    pipe per vblank: the event says "changed", not how often);
//  * single-framebuffer heuristic: a guest drawing into its front buffer never flips, so once a
//    pipe has gone more than kFrontBufferThreshold vblanks without a primary flip, every further
//    vblank carries a primary event until the next primary flip. Upstream's count is kept (the
//    11 flip-less vblanks after a flip are silent, the 12th and later signal, ≈200 ms at 60 Hz),
//    but two of its flaws are fixed: the count is per pipe (upstream kept one per vGPU and
//    advanced it once per pipe, disabled pipes included), and only primary flips reset it
//    (upstream reset on any flip, so a moving cursor hid a console drawn in place);
//  * the first vblank of a pipe that came on carries a primary event: a modeset latches its
//    surface before the pipe runs, so no flip would announce the new picture;
//  * damage hints (docs/hardware.md, Damage hints): a plane with damage this vblank carries its
//    event, and while the guest has hints on the front-buffer heuristic is off (it describes
//    every change, so an idle console costs consumers nothing).
// When a pipe turns off: exactly one display-off event, then silence until it comes back.
#pragma once

#include <array>
#include <cstdint>

#include "display/display_engine.h"
#include "hw/display.h"

namespace vgd::events {

class RefreshTracker {
 public:
  static constexpr uint32_t kFrontBufferThreshold = 10;  // upstream PAGEFLIP_DELAY_THR

  // The events of one vblank (0: none). A pipe the report shows inactive while this tracker
  // thought it on is treated as having turned off (in case the off edge was missed).
  uint64_t on_vblank(const display::VblankReport& report);
  // A pipe's state bit changed: the display-off event on the off edge, otherwise 0.
  uint64_t on_pipe_state(hw::Pipe p, bool active);

  bool active(hw::Pipe p) const { return pipes_[hw::index(p)].on; }
  // A vblank without a flip on this pipe now carries a primary event (the heuristic engaged).
  bool front_buffer(hw::Pipe p) const { return pipes_[hw::index(p)].idle > kFrontBufferThreshold; }
  // Primary events the heuristic added on this pipe so far (not flips): what a consumer counting
  // one event per flip must allow for.
  uint64_t guessed_events(hw::Pipe p) const { return guessed_[hw::index(p)]; }

 private:
  struct PipeState {
    bool on = false;
    bool fresh = false;  // came on; its next vblank announces the picture
    uint32_t idle = 0;   // consecutive vblanks without a primary flip, saturating past the threshold
  };
  std::array<PipeState, hw::kPipeCount> pipes_{};
  std::array<uint64_t, hw::kPipeCount> guessed_{};
};

}  // namespace vgd::events
