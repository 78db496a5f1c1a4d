// One guest VM's life on its vGPU, as the demos and the daemon run it: detect PVINFO, balloon,
// say display ready, start a workload, then present frames until told to stop. The first failure
// is kept with the step that failed; after it the session does nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "guest/workload_kind.h"
#include "guest/workloads.h"
#include "sim/inprocess.h"

namespace vgd {

class GuestSession {
 public:
  // mode: the one the workload lights (a ModeSwitch starts there and goes to 1920x1080 at
  // mode_switch_frame).
  GuestSession(std::unique_ptr<InProcessGuest> guest, Workload w, const guest::Mode& mode = guest::kMode1024x768at60,
               uint32_t mode_switch_frame = 180);

  // Probe, balloon, display ready, workload start.
  void boot();
  // The next frame (1, 2, ...); false once the session has failed.
  bool frame();
  // Pipe off and buffers freed, if it got that far.
  void stop();

  bool ok() const { return !failed_.load(std::memory_order_acquire); }  // any thread
  const std::string& error() const { return error_; }  // "<step>: <reason>"; once !ok()
  guest::Error status() const { return status_; }
  uint32_t frames() const { return frames_; }
  Workload workload() const { return kind_; }
  InProcessGuest& guest() { return *guest_; }
  const InProcessGuest& guest() const { return *guest_; }

 private:
  using Any = std::variant<guest::DesktopWorkload, guest::ConsoleWorkload, guest::VideoWorkload,
                           guest::ModeSwitchWorkload>;
  static Any make(Workload w, const guest::Mode& mode, uint32_t switch_frame);
  void check(guest::Error e, const char* step);

  std::unique_ptr<InProcessGuest> guest_;
  Workload kind_;
  Any workload_;
  uint32_t frames_ = 0;
  guest::Error status_ = guest::Error::None;
  std::string error_;
  std::atomic<bool> failed_{false};  // set after error_, so another thread may read error_ once it sees it
};

}  // namespace vgd
