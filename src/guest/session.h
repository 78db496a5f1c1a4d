// One guest's life on its vGPU, the same in-process and inside a VM: detect PVINFO, balloon, say
// display ready, start a workload, then present frames until told to stop. The first failure is
// kept with the step that failed; after it the session does nothing. Heap-free, like the driver.
#pragma once

#include <cstdint>
#include <variant>

#include "guest/display.h"
#include "guest/driver.h"
#include "guest/status.h"
#include "guest/workload_kind.h"
#include "guest/workloads.h"

namespace vgd::guest {

class Session {
 public:
  // mode: the one the workload lights (a ModeSwitch starts there and goes to 1920x1080 at
  // mode_switch_frame).
  Session(Driver& driver, Display& display, Workload w, const Mode& mode = kMode1024x768at60,
          uint32_t mode_switch_frame = 180);

  // Probe, balloon, display ready, workload start.
  Error boot();
  // The next frame (1, 2, ...); after a failure, the first failure again. Past the hold frame
  // (set_hold) it waits for a vblank and presents nothing: the picture stays.
  Error frame();
  // From frame n on the screen holds still (n > 0; 0, the default: it never does): a picture a
  // test can know exactly, reached through the workload's own flips.
  void set_hold(uint32_t n) { hold_ = n; }
  // Pipe off and buffers freed, if it got that far.
  void stop();

  bool ok() const { return status_ == Error::None; }
  Error status() const { return status_; }
  // The step that failed ("probe", "balloon", "display ready", "start", "frame"); "" while ok.
  const char* failed_step() const { return step_; }
  uint32_t frames() const { return frames_; }
  Workload workload() const { return kind_; }

 private:
  using Any = std::variant<DesktopWorkload, ConsoleWorkload, VideoWorkload, ModeSwitchWorkload>;
  static Any make(Workload w, const Mode& mode, uint32_t switch_frame);
  Error check(Error e, const char* step);

  Driver* driver_;
  Display* display_;
  Workload kind_;
  Any workload_;
  uint32_t frames_ = 0;
  uint32_t hold_ = 0;
  Error status_ = Error::None;
  const char* step_ = "";
};

}  // namespace vgd::guest
