#include "guest/session.h"

namespace vgd::guest {

Session::Any Session::make(Workload w, const Mode& mode, uint32_t switch_frame) {
  switch (w) {
    case Workload::Console: return ConsoleWorkload{mode};
    case Workload::Video: return VideoWorkload{mode};
    case Workload::ModeSwitch: return ModeSwitchWorkload{switch_frame, mode};
    case Workload::Desktop: break;
  }
  return DesktopWorkload{mode};
}

Session::Session(Driver& driver, Display& display, Workload w, const Mode& mode, uint32_t mode_switch_frame)
    : driver_(&driver), display_(&display), kind_(w), workload_(make(w, mode, mode_switch_frame)) {}

Error Session::check(Error e, const char* step) {
  if (e != Error::None && ok()) {
    status_ = e;
    step_ = step;
  }
  return status_;
}

Error Session::boot() {
  if (check(driver_->probe(), "probe") != Error::None) return status_;
  if (check(driver_->balloon(), "balloon") != Error::None) return status_;
  if (check(driver_->set_display_ready(true), "display ready") != Error::None) return status_;
  return check(std::visit([&](auto& w) { return w.start(*display_, *driver_, hw::Pipe::A); }, workload_), "start");
}

Error Session::frame() {
  if (!ok()) return status_;
  if (hold_ && frames_ >= hold_) return check(display_->wait_vblank(hw::Pipe::A), "hold");
  if (check(std::visit([&](auto& w) { return w.frame(frames_ + 1); }, workload_), "frame") == Error::None) ++frames_;
  return status_;
}

void Session::stop() {
  std::visit([](auto& w) { (void)w.stop(); }, workload_);
}

}  // namespace vgd::guest
