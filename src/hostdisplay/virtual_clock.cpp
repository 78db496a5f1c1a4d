// The virtual monitor's vblank clock (docs/direct-flip.md, Virtual monitor): each active CRTC
// ticks at its mode's refresh on a grid of integer nanoseconds from the moment it was lit, and a
// tick latches the oldest update waiting on that CRTC.
#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "hostdisplay/virtual_monitor.h"

namespace vgd::hostdisplay {
namespace {

// round(10^12 / mHz) ns, as the vGPU vblank clock (docs/hardware.md, Vblank).
uint64_t period_for(const Mode& m) { return (1'000'000'000'000ull + m.refresh_mhz / 2) / m.refresh_mhz; }

uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

uint64_t VirtualMonitor::clock_now() const {
  return options_.clock == VirtualMonitorOptions::Clock::Virtual ? virtual_now_ : monotonic_ns();
}

uint64_t VirtualMonitor::now_ns() const {
  const Locked lk(mu_);
  return clock_now();
}

uint64_t VirtualMonitor::vblank_count(uint32_t crtc_id) const {
  const Locked lk(mu_);
  const Crtc* c = crtc(crtc_id);
  return c ? c->vblanks : 0;
}

void VirtualMonitor::latch(size_t i, const Update& u, uint64_t at_ns) {
  Crtc& c = crtcs_[i];
  const bool was_active = c.screen.active;
  const bool new_timing = !c.screen.mode || !u.cfg.mode || !c.screen.mode->same_timing(*u.cfg.mode);
  c.screen = u.cfg;
  if (!c.screen.active) {
    c.next_vblank_ns = 0;
  } else if (!was_active || new_timing) {
    // Lit, or a new refresh rate: the grid starts at this moment.
    c.period_ns = period_for(*c.screen.mode);
    c.next_vblank_ns = at_ns + c.period_ns;
  }
  c.frame = Frame{vmon::compose_crtc(c.screen, &unreadable_), c.frame.number + 1};
  new_frames_.emplace_back(res_.crtcs[i].id, c.frame.number);
  if (u.event) {
    queue_event(FlipEvent{res_.crtcs[i].id, c.vblanks, std::chrono::nanoseconds(at_ns), u.user_data});
    ++counters_.events;  // page flips only: the counters tell what commits carried
  }
}

void VirtualMonitor::queue_event(std::variant<FlipEvent, VblankEvent> e) {
  events_.push_back(std::move(e));
  const uint64_t one = 1;
  (void)!::write(event_fd_.get(), &one, sizeof one);
}

Expected<bool, std::string> VirtualMonitor::watch_vblanks(uint32_t crtc_id, bool on) {
  const Locked lk(mu_);
  Crtc* c = crtc(crtc_id);
  if (!c) return Unexpected(fmt::format("watch vblanks: no CRTC {}", crtc_id));
  c->watched = on;
  return true;
}

uint64_t VirtualMonitor::earliest_vblank() const {
  uint64_t t = 0;
  for (const Crtc& c : crtcs_)
    if (c.next_vblank_ns && (t == 0 || c.next_vblank_ns < t)) t = c.next_vblank_ns;
  return t;
}

void VirtualMonitor::fire_due(uint64_t now) {
  for (;;) {
    size_t due = crtcs_.size();
    for (size_t i = 0; i < crtcs_.size(); ++i) {
      const uint64_t t = crtcs_[i].next_vblank_ns;
      if (t && t <= now && (due == crtcs_.size() || t < crtcs_[due].next_vblank_ns)) due = i;
    }
    if (due == crtcs_.size()) return;
    Crtc& c = crtcs_[due];
    // A late dispatch (real clock) counts the vblanks it slept through, as the kernel's counter
    // does, and latches once, at the last of them.
    const uint64_t late = (now - c.next_vblank_ns) / c.period_ns;
    const uint64_t at = c.next_vblank_ns + late * c.period_ns;
    c.vblanks += late + 1;
    c.next_vblank_ns = at + c.period_ns;
    // The vblank first, then what latched at it (docs/direct-flip.md, Vblank events).
    if (c.watched) queue_event(VblankEvent{res_.crtcs[due].id, c.vblanks, std::chrono::nanoseconds(at)});
    if (!c.pending.empty()) {
      const Update u = std::move(c.pending.front());
      c.pending.pop_front();
      latch(due, u, at);
    }
  }
}

void VirtualMonitor::advance_to(uint64_t t) {
  if (options_.clock != VirtualMonitorOptions::Clock::Virtual)
    throw std::logic_error("virtual monitor: advance_to on the real clock");
  {
    const Locked lk(mu_);
    // One deadline at a time, so each vblank fires at its own time.
    for (uint64_t next = earliest_vblank(); next != 0 && next <= t; next = earliest_vblank()) {
      virtual_now_ = next;
      fire_due(next);
    }
    if (t > virtual_now_) virtual_now_ = t;
  }
  publish_frames();
}

bool VirtualMonitor::advance_to_next_vblank() {
  uint64_t next = 0;
  {
    const Locked lk(mu_);
    next = earliest_vblank();
  }
  if (next == 0) return false;
  advance_to(next);
  return true;
}

void VirtualMonitor::rearm() {
  if (!timer_fd_) return;
  const uint64_t t = earliest_vblank();
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(t / 1'000'000'000ull);
  spec.it_value.tv_nsec = static_cast<long>(t % 1'000'000'000ull);
  if (::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
    spdlog::error("virtual monitor: timerfd_settime: {}", std::strerror(errno));
}

void VirtualMonitor::dispatch_timer() {
  {
    const Locked lk(mu_);
    uint64_t expirations = 0;
    (void)!::read(timer_fd_.get(), &expirations, sizeof expirations);  // EAGAIN when spurious
    fire_due(monotonic_ns());
    rearm();
  }
  publish_frames();
}

void VirtualMonitor::clock_loop() {
  pollfd fds[2] = {{timer_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("virtual monitor: clock thread: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents) dispatch_timer();
  }
}

}  // namespace vgd::hostdisplay
