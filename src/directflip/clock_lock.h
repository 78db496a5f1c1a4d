// One clock for a linked pipe (docs/direct-flip.md, One clock): the guest's vblank timer is put
// on the host CRTC's vblank grid, `lead` before each host vblank, so a flip the guest latches at
// its tick is committed before that host vblank and shown at it. The lead is the link's own work
// per frame (decode, plan, feed, commit) with a margin, learnt from the frames it builds.
//
// Called only by the PipeLink, under whatever serialises the vGPU (pipe_link.h, Threads).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "vgpu/vgpu.h"

namespace vgd::directflip {

inline constexpr uint64_t kDefaultLeadNs = 2'000'000;  // before any frame was measured
inline constexpr uint64_t kMinLeadNs = 1'000'000;
inline constexpr uint64_t kLeadMarginNs = 500'000;     // over the slowest recent frame
inline constexpr uint64_t kRealignNs = 250'000;        // phase errors below this are jitter

// The lead for a host period: the slowest of the recent frames' build times (tick to commit
// done) plus a margin, at least kMinLeadNs, kDefaultLeadNs with none measured; never more than
// half a period (a guest frame needs the rest).
uint64_t lead_ns(std::span<const uint64_t> recent_build_ns, uint64_t period_ns);
// How far grid b (points b + k·period) is from grid a, folded into [-period/2, period/2).
int64_t phase_error_ns(uint64_t a, uint64_t b, uint64_t period_ns);

class ClockLock {
 public:
  static constexpr size_t kWindow = 32;  // recent frames the lead is learnt from

  // A host display without vblank events: the guest keeps its own clock, for that reason.
  void unsupported(std::string why) { host_ = false, why_ = std::move(why); }
  // A host vblank at `timestamp_ns` (CLOCK_MONOTONIC) of a CRTC with this period: re-phases the
  // vGPU's timer when the grid it is on is off by more than kRealignNs (or not on one yet).
  void on_host_vblank(Vgpu& vgpu, uint64_t timestamp_ns, uint64_t period_ns);
  // A frame built and committed `elapsed_ns` after the guest tick it was built at.
  void record_build(uint64_t elapsed_ns);
  // The guest's own clock again (the link ends).
  void release(Vgpu& vgpu) { vgpu.unlock_vblank(); }

  bool host() const { return host_; }
  const std::string& why() const { return why_; }  // why the clock is the guest's own
  uint64_t lead() const { return lead_; }
  uint64_t host_vblanks() const { return host_vblanks_; }
  uint64_t aligns() const { return aligns_; }

 private:
  bool host_ = true;  // until the display says it has no vblank events
  std::string why_;
  std::array<uint64_t, kWindow> builds_{};
  size_t n_builds_ = 0;  // samples ever recorded (the window holds the newest kWindow)
  uint64_t lead_ = kDefaultLeadNs;
  uint64_t period_ = 0, phase_ = 0;  // the grid the vGPU was last put on, period 0: none
  uint64_t host_vblanks_ = 0, aligns_ = 0;
};

}  // namespace vgd::directflip
