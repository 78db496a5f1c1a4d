// One in-process guest's life on its vGPU, as the demos and the daemon run it: the guest core's
// Session (the same sequence vgpu-guest runs inside a VM) with the failure logged and kept as
// text that other threads may read.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "guest/session.h"
#include "guest/workload_kind.h"
#include "sim/inprocess.h"

namespace vgd {

class GuestSession {
 public:
  // mode: the one the workload lights (a ModeSwitch starts there and goes to 1920x1080 at
  // mode_switch_frame).
  GuestSession(std::unique_ptr<InProcessGuest> guest, Workload w, const guest::Mode& mode = guest::kMode1024x768at60,
               uint32_t mode_switch_frame = 180);

  // Probe, balloon, display ready, workload start (guest::Session::boot).
  void boot();
  // The next frame (1, 2, ...); false once the session has failed.
  bool frame();
  // Pipe off and buffers freed, if it got that far.
  void stop();
  // From frame n on the picture stays (guest::Session::set_hold; 0: never); before boot().
  void set_hold(uint32_t n) { hold_ = step_ = n; }
  // A held picture goes on for as many frames again, then holds (any thread; docs/config.md).
  void hold_further() {
    if (step_) hold_.fetch_add(step_, std::memory_order_relaxed);
  }

  bool ok() const { return !failed_.load(std::memory_order_acquire); }  // any thread
  const std::string& error() const { return error_; }  // "<step>: <reason>"; once !ok()
  guest::Error status() const { return status_; }
  uint32_t frames() const { return session_.frames(); }
  Workload workload() const { return session_.workload(); }
  InProcessGuest& guest() { return *guest_; }
  const InProcessGuest& guest() const { return *guest_; }

 private:
  void note(guest::Error e);

  std::unique_ptr<InProcessGuest> guest_;
  guest::Session session_;
  guest::Error status_ = guest::Error::None;
  std::string error_;
  std::atomic<bool> failed_{false};
  std::atomic<uint32_t> hold_{0};  // read by the guest's thread at each frame
  uint32_t step_ = 0;  // set after error_, so another thread may read error_ once it sees it
};

}  // namespace vgd
