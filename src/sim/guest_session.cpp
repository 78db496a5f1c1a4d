#include "sim/guest_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vgd {

GuestSession::Any GuestSession::make(Workload w, const guest::Mode& mode, uint32_t switch_frame) {
  switch (w) {
    case Workload::Console: return guest::ConsoleWorkload{mode};
    case Workload::Video: return guest::VideoWorkload{mode};
    case Workload::ModeSwitch: return guest::ModeSwitchWorkload{switch_frame, mode};
    case Workload::Desktop: break;
  }
  return guest::DesktopWorkload{mode};
}

GuestSession::GuestSession(std::unique_ptr<InProcessGuest> guest, Workload w, const guest::Mode& mode,
                           uint32_t mode_switch_frame)
    : guest_(std::move(guest)), kind_(w), workload_(make(w, mode, mode_switch_frame)) {}

void GuestSession::check(guest::Error e, const char* step) {
  if (e == guest::Error::None || !ok()) return;
  status_ = e;
  error_ = fmt::format("{}: {}", step, guest::describe(e));
  failed_.store(true, std::memory_order_release);
  spdlog::warn("vgpu {}: {} guest stopped at {}", guest_->vgpu().id(), name(kind_), error_);
}

void GuestSession::boot() {
  guest::Driver& drv = guest_->driver();
  check(drv.probe(), "probe");
  if (ok()) check(drv.balloon(), "balloon");
  if (ok()) check(drv.set_display_ready(true), "display ready");
  if (ok()) check(std::visit([&](auto& w) { return w.start(guest_->display(), drv, hw::Pipe::A); }, workload_), "start");
}

bool GuestSession::frame() {
  if (!ok()) return false;
  check(std::visit([&](auto& w) { return w.frame(frames_ + 1); }, workload_), "frame");
  if (ok()) ++frames_;
  return ok();
}

void GuestSession::stop() {
  std::visit([](auto& w) { (void)w.stop(); }, workload_);
}

}  // namespace vgd
