// Vblank timers for every vGPU of a GPU (docs/hardware.md, Vblank) on one clock. Upstream GVT-g
// uses an hrtimer per vGPU; here one min-heap of absolute deadlines serves any number of vGPUs, so
// 64 or 1000 vGPUs cost no threads and one kernel timer at most. Deadlines are base + k·period in
// integer nanoseconds, so a timer never drifts however long it runs.
//
// Two time sources behind one interface:
//  * VirtualClock — time moves only when told (tests, benchmarks); every due tick fires, in
//    deadline order, ties in timer-id order.
//  * RealClock — CLOCK_MONOTONIC with one timerfd armed for the earliest deadline; plug fd() into
//    an epoll loop and call dispatch() when it is readable.
//
// Thread-safe: any thread may add, start, stop or remove timers (a guest's trap programs its mode
// while the vblank thread dispatches). Ticks are dispatched by one thread at a time, with the
// clock's lock held, so a callback must only record what is due and return (the daemon posts the
// vGPU's vblank to the vGPU's own lock, docs/design.md "Ownership"); it may add/start/stop/remove
// any timer, its own included, but must not advance or destroy the clock, nor wait for a lock
// whose holder may call into the clock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/expected.h"
#include "util/thread_annotations.h"
#include "util/unique_fd.h"

namespace vgd::display {

// The clock's lock: re-entered by callbacks that start or stop timers while ticks fire.
class CAPABILITY("mutex") ClockMutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  std::recursive_mutex mu_;
};

// Vblank period for a refresh rate in milli-Hz: round(10^12 / mHz) ns; 0 means 60 Hz.
uint64_t period_ns_for_mhz(uint32_t refresh_mhz);

// Identifies a timer on its clock. Ids are never reused; 0 is never a timer.
using TimerId = uint64_t;

class VblankClock {
 public:
  VblankClock() = default;
  VblankClock(const VblankClock&) = delete;  // callbacks and owners hold on to the clock
  VblankClock& operator=(const VblankClock&) = delete;
  virtual ~VblankClock() = default;

  // A stopped timer that calls on_tick at each of its deadlines once started.
  TimerId add(std::function<void()> on_tick);
  void remove(TimerId id);
  // First tick one period from now. Already running at this period: nothing changes (keeps its
  // phase, as the hrtimer is restarted only on a rate change); another period re-phases from
  // now. A period of 0 stops the timer.
  void start(TimerId id, uint64_t period_ns);
  // Puts a timer on another clock's grid (docs/direct-flip.md, One clock): deadlines at
  // phase_ns + k·period_ns from now on, the next one the first strictly after now, started if it
  // was stopped. Never two ticks closer than half a period: a grid point too close to the last
  // tick is skipped (one longer frame, never a double tick, never a stall). Period 0 stops it.
  void align(TimerId id, uint64_t period_ns, uint64_t phase_ns);
  void stop(TimerId id);

  // Unknown or removed ids read as stopped with no ticks; control calls on them do nothing.
  bool running(TimerId id) const;
  uint64_t ticks(TimerId id) const;
  // Deadlines skipped because the owner dispatched late (RealClock only; see fire_due).
  uint64_t missed(TimerId id) const;
  // When the next tick is due, 0 when stopped.
  uint64_t next_tick_ns(TimerId id) const;
  size_t timers() const;

  // Time on this clock; during a tick it is (virtual clock) exactly that tick's deadline.
  virtual uint64_t now_ns() const = 0;
  // Inside a tick's callback: the deadline it fires for (the vblank's nominal time, which a late
  // dispatch does not move); 0 outside callbacks.
  uint64_t tick_ns() const;

 protected:
  // Fires every timer due at `now`, earliest first. A timer several periods overdue fires once;
  // the deadlines it slept through are counted in missed() instead of firing a burst, and it
  // stays on its grid (next deadline = the first one after `now`).
  void fire_due(uint64_t now);
  // Earliest deadline of a running timer, 0 when none runs.
  uint64_t next_deadline() const;
  bool in_callback() const;
  // The earliest deadline may have changed (not called while ticks are being dispatched:
  // fire_due calls it once at the end).
  virtual void schedule_changed() REQUIRES(mu_) {}

  mutable ClockMutex mu_;

 private:
  static constexpr size_t kNotQueued = SIZE_MAX;
  struct Timer {
    TimerId id = 0;
    std::function<void()> on_tick;
    uint64_t period = 0;
    uint64_t deadline = 0;
    uint64_t last_tick = 0;  // the deadline the last tick fired for, 0 before the first
    uint64_t ticks = 0;
    uint64_t missed = 0;
    size_t heap_pos = kNotQueued;  // queued == running
    bool removed = false;          // removed while its own callback runs: erased after it
  };

  Timer* find(TimerId id) REQUIRES(mu_);
  const Timer* find(TimerId id) const REQUIRES(mu_);
  void changed() REQUIRES(mu_);
  void requeue(Timer* t) REQUIRES(mu_);  // after its deadline changed, queued or not
  // Indexed binary min-heap on (deadline, id): O(log n) insert, re-key and removal.
  static bool earlier(const Timer* a, const Timer* b);
  void heap_place(size_t pos, Timer* t) REQUIRES(mu_);
  void heap_fix(size_t pos) REQUIRES(mu_);
  void heap_push(Timer* t) REQUIRES(mu_);
  void heap_erase(Timer* t) REQUIRES(mu_);

  // Nodes of an unordered_map keep their address, so the heap can point at timers and a
  // callback can add timers while its own is being fired.
  std::unordered_map<TimerId, Timer> timers_ GUARDED_BY(mu_);
  std::vector<Timer*> heap_ GUARDED_BY(mu_);
  TimerId next_id_ GUARDED_BY(mu_) = 1;
  Timer* firing_ GUARDED_BY(mu_) = nullptr;  // whose callback runs now; set only inside fire_due
  uint64_t tick_ns_ GUARDED_BY(mu_) = 0;     // its deadline
};

// Time advances only through advance_to/advance_by; nothing sleeps.
class VirtualClock final : public VblankClock {
 public:
  explicit VirtualClock(uint64_t start_ns = 0) : now_(start_ns) {}

  uint64_t now_ns() const override { return now_; }
  // Fires every deadline up to and including t, each at its exact time. Earlier t: no-op.
  void advance_to(uint64_t t);
  void advance_by(uint64_t d) { advance_to(now_ + d); }
  // Jumps to the earliest running timer's next tick and fires it; false if none runs.
  bool advance_to_next() {
    const uint64_t t = next_deadline();
    if (t == 0) return false;
    advance_to(t);
    return true;
  }

 private:
  uint64_t now_;  // written only by the thread advancing it
};

class RealClock final : public VblankClock {
 public:
  // Fails (with the reason) when the kernel refuses a timerfd or an epoll instance.
  static Expected<std::unique_ptr<RealClock>, std::string> create();

  uint64_t now_ns() const override;  // CLOCK_MONOTONIC
  // Readable when the earliest deadline has passed; never readable with no timer running.
  int fd() const { return timer_fd_.get(); }
  // Fires everything due (a spurious call fires nothing) and re-arms the fd.
  void dispatch();
  // Demo convenience: an epoll loop on fd() for about `d`, dispatching as deadlines pass.
  void run_for(std::chrono::nanoseconds d);

 private:
  RealClock(UniqueFd timer_fd, UniqueFd epoll_fd) : timer_fd_(std::move(timer_fd)), epoll_fd_(std::move(epoll_fd)) {}
  void schedule_changed() override REQUIRES(mu_);

  UniqueFd timer_fd_;
  UniqueFd epoll_fd_;    // run_for's own loop, created up front so run_for cannot fail
  uint64_t armed_ GUARDED_BY(mu_) = 0;   // deadline the timerfd is armed for, 0 = disarmed
};

}  // namespace vgd::display
