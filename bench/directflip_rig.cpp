// directflip_bench's rig (directflip_rig.h).
#include "directflip_rig.h"

#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "daemon/common.h"
#include "directflip/pipe_link.h"
#include "display/vblank_clock.h"
#include "hostdisplay/virtual_monitor.h"
#include "sim/inprocess.h"
#include "vgpu/gpu.h"

namespace vgd::directflip_bench {
namespace {

using namespace daemon_bench;  // clocks, epoll, die
using hostdisplay::HostDisplay;
using hw::Pipe;
using hw::Plane;

// The monitor as a display that refuses imports (no PRIME / udmabuf) and, with `linear_rgb`,
// whose planes take only XR24/AR24 linear (a guest format or tiling the host lacks).
class Restricted final : public HostDisplay {
 public:
  Restricted(HostDisplay& d, bool imports, bool linear_rgb) : d_(&d), imports_(imports), linear_rgb_(linear_rgb) {}
  std::string name() const override { return "restricted"; }
  const hostdisplay::Resources& resources() const override {
    if (!linear_rgb_) return d_->resources();
    const auto& r = d_->resources();
    if (res_.planes.empty()) {  // the planes once, with fewer formats (not a per-flip cost)
      res_ = r;
      for (auto& p : res_.planes)
        if (p.type != hostdisplay::PlaneType::Cursor) p.formats = {{hw::drm::kXRGB8888, 0}, {hw::drm::kARGB8888, 0}};
    }
    res_.outputs = r.outputs;  // the monitor's current CRTC state
    res_.crtcs = r.crtcs;
    return res_;
  }
  Expected<bool, std::string> refresh() override { return d_->refresh(); }
  Expected<hostdisplay::BufferRef, std::string> create_buffer(uint32_t w, uint32_t h, uint32_t f) override {
    return d_->create_buffer(w, h, f);
  }
  Expected<hostdisplay::BufferRef, std::string> import(int fd, const hostdisplay::BufferLayout& l) override {
    if (!imports_) return Unexpected(std::string("imports refused (bench: shadow path)"));
    return d_->import(fd, l);
  }
  Expected<bool, hostdisplay::CommitError> commit(const hostdisplay::State& s, uint32_t f, uint64_t u) override {
    return d_->commit(s, f, u);
  }
  int event_fd() const override { return d_->event_fd(); }
  Expected<bool, std::string> watch_vblanks(uint32_t c, bool on) override { return d_->watch_vblanks(c, on); }
  using HostDisplay::dispatch;
  void dispatch(const hostdisplay::EventHandlers& h) override { d_->dispatch(h); }
  hostdisplay::CommitCounters counters() const override { return d_->counters(); }

 private:
  HostDisplay* d_;
  bool imports_, linear_rgb_;
  mutable hostdisplay::Resources res_;
};

UniqueFd timer() {
  UniqueFd t(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!t) die("timerfd_create failed");
  return t;
}
void drain(int fd) {
  uint64_t n;
  (void)!::read(fd, &n, sizeof n);
}

}  // namespace

void arm(int fd, int64_t at_ns, int64_t period_ns) {
  itimerspec its{};
  its.it_value = {static_cast<time_t>(at_ns / 1'000'000'000), static_cast<long>(at_ns % 1'000'000'000)};
  its.it_interval = {static_cast<time_t>(period_ns / 1'000'000'000), static_cast<long>(period_ns % 1'000'000'000)};
  ::timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, nullptr);
}

Result run(const Config& c, double seconds, double warmup, uint32_t seed, HostDisplay* kms) {
  using Clock = Config::Clock;
  if (kms && c.clock != Clock::OwnHalf) die(c.name + ": a KMS display here has no vblank events, only the own clock");
  auto vclock = display::RealClock::create();  // the vGPU's vblank timer (Clock::Led); outlives the GPU
  if (!vclock) die(vclock.error());
  auto gpu = Gpu::create({});
  if (!gpu) die(gpu.error());
  if (c.clock == Clock::Led) (*gpu)->set_vblank_clock(vclock->get());
  auto ram = GuestRam::create(256ull << 20, "directflip-bench");
  if (!ram) die(ram.error());
  auto v = (*gpu)->create_vgpu("GVTg_V5_4", *ram);
  if (!v) die(v.error().message);
  InProcessGuest g(**v, (*gpu)->geometry());
  if (g.driver().probe() != guest::Error::None || g.driver().balloon() != guest::Error::None) die("guest probe failed");
  guest::Surface surf[2];
  for (auto& s : surf)
    if (g.display().create_surface(c.mode.width, c.mode.height, c.format, c.tiling, s) != guest::Error::None)
      die("guest surface: " + c.name);
  if (g.display().modeset(Pipe::A, c.mode, surf[0]) != guest::Error::None) die("guest modeset");
  if (c.damage && g.display().set_damage_hints(true) != guest::Error::None) die("damage hints not offered");

  std::unique_ptr<hostdisplay::VirtualMonitor> mon;  // without `kms`
  if (!kms) {
    hostdisplay::VirtualMonitorOptions mo;
    mo.outputs = 1;
    mo.modes = {hostdisplay::Mode{kW, kH, 60'000, "1920x1080", true, {}}};
    auto m = hostdisplay::VirtualMonitor::create(mo);
    if (!m) die(m.error());
    mon = std::move(*m);
  }
  HostDisplay& host = kms ? *kms : *mon;
  if (host.resources().outputs.empty()) die(host.name() + " has no outputs");
  Restricted display(host, c.imports, c.linear_rgb);
  auto planes = directflip::choose_planes(display.resources(), kms ? kms->resources().outputs[0].name : "Virtual-1");
  if (!planes) die(planes.error());
  auto link = directflip::PipeLink::create(**v, Pipe::A, display, *planes);
  if (!link) die(link.error());
  if (!kms && !(*link)->clock().host()) die((*link)->clock().why());  // the link watches the CRTC's vblanks

  UniqueFd guest_clock = timer(), flip_timer = timer();
  UniqueFd ep = kms ? epoll_of({{kms->event_fd(), 1}, {guest_clock.get(), 2}, {flip_timer.get(), 3}})
                    : epoll_of({{mon->timer_fd(), 0}, {mon->event_fd(), 1}, {guest_clock.get(), 2},
                                {flip_timer.get(), 3}, {(*vclock)->fd(), 4}});
  std::mt19937 rng(seed);
  const uint64_t live_reg = hw::plane::reg(Pipe::A, 1, hw::plane::kSurfLive);
  enum class St { Idle, Queued, Latched } st = St::Idle;
  uint32_t back = 1;
  int64_t t0 = 0, cpu_flip = 0;
  bool recording = false, clock_started = false;
  Result r;
  directflip::LinkCounters c0;
  const auto next_flip = [&](int64_t from) {
    arm(flip_timer.get(), from + std::uniform_int_distribution<int64_t>(1000, kPeriod)(rng));
  };
  // A guest vblank: by hand, or the vGPU's timer firing (Clock::Led).
  const auto guest_vblank = [&](bool by_timer) {
    const int64_t a = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    if (by_timer)
      (*vclock)->dispatch();
    else
      (void)(*v)->vblank();
    const int64_t b = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    if (st == St::Queued &&
        ((*v)->vregs().read32(live_reg) & hw::plane::kSurfAddrMask) == surf[back].buffer.gm.value()) {
      st = St::Latched;  // this vblank latched the flip and committed the frame carrying it
      cpu_flip = b - a;
    }
  };
  const auto flip = [&] {
    if (c.damage) {  // 5 % of the picture: 16 boxes of 90 x 72 at 1080p (as much at other sizes), said with the flip
      guest::DamageBox boxes[16];
      const uint32_t bw = 90 * c.mode.width / 1920, bh = 72 * c.mode.height / 1080;
      auto* px = g.driver().ram().at(surf[back].buffer.gpa, surf[back].buffer.size);
      if (!px) die("the guest surface is not in RAM");
      const auto val = static_cast<uint8_t>(rng());
      for (auto& b : boxes) {
        b = {static_cast<uint16_t>(rng() % (c.mode.width - bw)), static_cast<uint16_t>(rng() % (c.mode.height - bh)),
             static_cast<uint16_t>(bw), static_cast<uint16_t>(bh)};
        for (uint32_t y = b.y; y < uint32_t{b.y} + b.h; ++y)
          std::memset(px + size_t{y} * surf[back].stride + b.x * 4u, val, bw * 4);
      }
      g.display().submit_damage(Pipe::A, Plane::Primary, boxes, 16, /*with_next_flip=*/true);
    }
    t0 = now_ns();
    if (g.display().queue_flip(Pipe::A, Plane::Primary, surf[back]) != guest::Error::None) die("queue_flip");
    st = St::Queued;
  };
  const hostdisplay::EventHandlers handlers{
      [&](const hostdisplay::FlipEvent& e) {
        const int64_t at = now_ns(), a = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        (*link)->on_flip(e);
        const int64_t b = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        if (st != St::Latched) return;
        if (recording) {
          r.shown.push_back(e.timestamp.count() - t0);
          r.lat.push_back(at - t0);
          r.cpu.push_back(cpu_flip + b - a);
          r.lead_ns.push_back(static_cast<int64_t>((*link)->counters().lead_us) * 1000);
          ++r.flips;
        }
        st = St::Idle;
        back ^= 1;
        next_flip(at);
      },
      [&](const hostdisplay::VblankEvent& e) {
        if (c.clock == Clock::Led) return (*link)->on_host_vblank(e);
        if (c.clock == Clock::HostEvent) return guest_vblank(false);
        if (!clock_started) {  // the guest's vblanks half a period after the host's, same rate
          arm(guest_clock.get(), e.timestamp.count() + kPeriod / 2, kPeriod);
          clock_started = true;
        }
      }};

  const int64_t start = now_ns(), rec_at = start + static_cast<int64_t>(warmup * 1e9),
                end = rec_at + static_cast<int64_t>(seconds * 1e9);
  next_flip(start);
  if (kms) {  // no host grid to be half a period after: the guest's own 60 Hz from here
    arm(guest_clock.get(), start + kPeriod / 2, kPeriod);
    clock_started = true;
  }
  const int64_t give_up = kms ? 5'000'000'000 : 1'000'000'000;  // TCG is slow
  for (int64_t now = start; now < end; now = now_ns()) {
    if (!recording && now >= rec_at) {
      recording = true;
      c0 = (*link)->counters();
      r.monitor_cpu = 0;
    }
    if (st != St::Idle && now - t0 > give_up) {  // a flip that never showed: count, go on
      ++r.timeouts;
      st = St::Idle;
      next_flip(now);
    }
    epoll_event evs[8];
    const int n = ::epoll_wait(ep.get(), evs, 8, 100);
    for (int i = 0; i < n; ++i) switch (evs[i].data.u64) {
        case 0: {
          const int64_t a = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
          mon->dispatch_timer();
          r.monitor_cpu += cpu_ns(CLOCK_THREAD_CPUTIME_ID) - a;
          break;
        }
        case 1: host.dispatch(handlers); break;
        case 2: drain(guest_clock.get()); guest_vblank(false); break;
        case 3: drain(flip_timer.get()); if (st == St::Idle) flip(); break;
        case 4: guest_vblank(true); break;
      }
  }
  const auto& c1 = (*link)->counters();
  r.bytes = c1.bytes_copied - c0.bytes_copied;
  r.imports = c1.imports - c0.imports;
  r.refills = c1.refills - c0.refills;
  r.scaled = c1.scaled_fallbacks - c0.scaled_fallbacks;
  r.commits = c1.commits - c0.commits;
  r.busy = c1.busy_deferrals - c0.busy_deferrals;
  if (c1.refused || c1.failed_frames)
    spdlog::warn("{}: {} refused commits, {} failed frames", c.name, c1.refused, c1.failed_frames);
  link->reset();
  if (kms) {  // the events of the link's last commits, before the next run's link could take them for its own
    const hostdisplay::EventHandlers none{[](const hostdisplay::FlipEvent&) {}, [](const hostdisplay::VblankEvent&) {}};
    for (int64_t until = now_ns() + 200'000'000; now_ns() < until;) {
      pollfd p{kms->event_fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) == 1) kms->dispatch(none);
    }
  }
  return r;
}

}  // namespace vgd::directflip_bench
