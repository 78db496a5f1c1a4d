// Several in-process guests on one virtual clock, each on its own thread, as if each had its own
// vCPU: exactly one runs at a time, and virtual time moves on to the next vblank only when every
// guest still running is idle. The order is fixed (lowest index first), so a run is reproducible
// to the frame, and guests run at their display's rate instead of taking turns per vblank.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "display/vblank_clock.h"
#include "guest/ports.h"

namespace vgd {

class Lockstep {
  class Port final : public guest::IdlePort {
   public:
    Port(Lockstep& owner, size_t i) : owner_(&owner), i_(i) {}
    void idle() override { owner_->idle(i_); }

   private:
    Lockstep* owner_;
    size_t i_;
  };

 public:
  Lockstep(display::VirtualClock& clock, size_t guests);
  Lockstep(const Lockstep&) = delete;
  Lockstep& operator=(const Lockstep&) = delete;

  // The idle port guest i waits through.
  guest::IdlePort& port(size_t i) { return *ports_[i]; }
  // Runs body(i) for every guest on its own thread and returns when all have returned. A body
  // may read the clock freely: nothing else runs meanwhile.
  void run(const std::function<void(size_t)>& body);

 private:
  enum class State { Ready, Idle, Done };

  void idle(size_t i);
  // With the lock held: hands the turn on after guest i stopped running.
  void pass_turn(size_t i);

  display::VirtualClock* clock_;
  std::vector<std::unique_ptr<Port>> ports_;
  std::vector<State> state_;
  size_t turn_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace vgd
