#include "directflip/clock_lock.h"

#include <algorithm>
#include <cstdlib>

namespace vgd::directflip {

uint64_t lead_ns(std::span<const uint64_t> recent, uint64_t period_ns) {
  const uint64_t learnt = recent.empty() ? kDefaultLeadNs
                                         : std::max(kMinLeadNs, *std::max_element(recent.begin(), recent.end()) + kLeadMarginNs);
  return std::min(learnt, period_ns / 2);
}

int64_t phase_error_ns(uint64_t a, uint64_t b, uint64_t period_ns) {
  if (!period_ns) return 0;
  // (b - a) mod period in [0, period), then folded.
  const uint64_t m = b >= a ? (b - a) % period_ns : (period_ns - (a - b) % period_ns) % period_ns;
  return m >= (period_ns + 1) / 2 ? static_cast<int64_t>(m) - static_cast<int64_t>(period_ns) : static_cast<int64_t>(m);
}

void ClockLock::record_build(uint64_t elapsed_ns) {
  builds_[n_builds_++ % kWindow] = elapsed_ns;
}

void ClockLock::on_host_vblank(Vgpu& vgpu, uint64_t timestamp_ns, uint64_t period_ns) {
  if (!period_ns) return;
  ++host_vblanks_;
  lead_ = lead_ns(std::span<const uint64_t>(builds_.data(), std::min(n_builds_, kWindow)), period_ns);
  const uint64_t phase = timestamp_ns - lead_;
  if (period_ == period_ns && vgpu.vblank_locked() &&
      std::abs(phase_error_ns(phase_, phase, period_ns)) <= static_cast<int64_t>(kRealignNs))
    return;  // jitter: the timer stays where it is
  vgpu.lock_vblank(period_ns, phase);
  period_ = period_ns;
  phase_ = phase;
  ++aligns_;
}

}  // namespace vgd::directflip
