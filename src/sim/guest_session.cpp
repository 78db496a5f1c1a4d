#include "sim/guest_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vgd {

GuestSession::GuestSession(std::unique_ptr<InProcessGuest> guest, Workload w, const guest::Mode& mode,
                           uint32_t mode_switch_frame)
    : guest_(std::move(guest)), session_(guest_->driver(), guest_->display(), w, mode, mode_switch_frame) {}

void GuestSession::note(guest::Error e) {
  if (e == guest::Error::None || !ok()) return;
  status_ = e;
  error_ = fmt::format("{}: {}", session_.failed_step(), guest::describe(e));
  failed_.store(true, std::memory_order_release);
  spdlog::warn("vgpu {}: {} guest stopped at {}", guest_->vgpu().id(), name(session_.workload()), error_);
}

void GuestSession::boot() { note(session_.boot()); }

bool GuestSession::frame() {
  if (!ok()) return false;
  session_.set_hold(hold_.load(std::memory_order_relaxed));
  note(session_.frame());
  return ok();
}

void GuestSession::stop() { session_.stop(); }

}  // namespace vgd
