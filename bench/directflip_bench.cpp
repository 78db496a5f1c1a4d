// directflip_bench: direct flip (docs/direct-flip.md, The engine) measured on the VirtualMonitor
// with its real 60 Hz clock, an in-process guest on a vGPU whose pipe a PipeLink puts on the
// monitor (the set-up of tests/directflip_pipe_test.cpp). A plain program like daemon_bench:
// distributions, not means, each beside a baseline measured in the same run.
//
//  latency  The bench is the guest: at a random phase of its frame it writes PLANE_SURF (a
//           synchronous flip of its 1080p primary) and times until the host's page-flip event
//           of the commit that carries it reaches the monitor's owner. Two guest clocks:
//           "one clock" (the guest's vblank ticked by the host CRTC's vblank events, the design:
//           the commit made at vblank N lands at N+1) and "own clock" (the guest's vblank from its
//           own 60 Hz timer, half a period after the host's). Beside them: the composed path (the
//           same flip on vgpud, pixels in a libvncclient through viewers::VncStream, from
//           daemon_bench's vnc part) and a bare 60 Hz timerfd waited on from a random phase (the
//           wait for the next vblank any vblank-latched flip pays).
//  cpu      Per flip (one clock, flips at random phases): the thread CPU of the guest vblank that
//           latched the flip (vGPU latch + the link's decode, plan, feed and commit) and of the
//           link's page-flip handling, with PipeLink::counters() bytes copied, imports and refills
//           per flip, for: import (zero copy), shadow copy (a display refusing imports), conversion
//           (XBGR8888 on a plane taking only XR24/AR24), X-tiled detile (a plane taking linear
//           only), damage-only refill (5 % of the picture per frame in 16 hinted boxes) and the
//           scaled fallback (a 1280x720 guest on the 1920x1080 mode). Beside: memcpy of one
//           1080p frame. The monitor's own composition (what a KMS device does in hardware) is a
//           column of its own.
//
// usage: directflip_bench [--seconds S] [--cpu-seconds S] [--warmup S] [--no-vnc] [--out DIR]
// Writes DIR/directflip.json (bench/plot_latency.py draws it).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "daemon/common.h"
#include "directflip/pipe_link.h"
#include "hostdisplay/virtual_monitor.h"
#include "sim/inprocess.h"
#include "vgpu/gpu.h"

namespace vgd::directflip_bench {
namespace {

using namespace daemon_bench;  // clocks, distributions, JSON, load
using guest::PixelFormat;
using hostdisplay::HostDisplay;
using hw::Pipe;
using hw::Plane;

constexpr int64_t kPeriod = 16'666'667;  // the monitor's 60 Hz: round(1e12 / 60000 mHz)
constexpr uint32_t kW = 1920, kH = 1080;

// The monitor as a display that refuses imports (no PRIME / udmabuf) and, with `linear_rgb`,
// whose planes take only XR24/AR24 linear (a guest format or tiling the host lacks).
class Restricted final : public HostDisplay {
 public:
  Restricted(HostDisplay& d, bool imports, bool linear_rgb) : d_(&d), imports_(imports), linear_rgb_(linear_rgb) {}
  std::string name() const override { return "restricted"; }
  const hostdisplay::Resources& resources() const override {
    if (!linear_rgb_) return d_->resources();
    res_ = d_->resources();  // the monitor's, current (CRTC state), with fewer formats
    for (auto& p : res_.planes)
      if (p.type != hostdisplay::PlaneType::Cursor)
        p.formats = {{hw::drm::kXRGB8888, 0}, {hw::drm::kARGB8888, 0}};
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

struct Config {
  std::string name;
  PixelFormat format = PixelFormat::Xrgb8888;
  hw::Tiling tiling = hw::Tiling::Linear;
  guest::Mode mode = guest::kMode1920x1080at60;
  bool imports = true, linear_rgb = false, damage = false;
  bool own_clock = false;  // the guest's vblank from its own timer, else from the host's
};

struct Result {
  // Per flip: write -> the vblank it latched at (the event's timestamp: on screen), write -> the
  // event delivered to the owner (after the monitor composed the frame), the link's thread CPU.
  std::vector<int64_t> shown, lat, cpu;
  uint64_t flips = 0, timeouts = 0, bytes = 0, imports = 0, refills = 0, scaled = 0, commits = 0;
  int64_t monitor_cpu = 0;  // the monitor's latching and composition, in all
};

UniqueFd timer() {
  UniqueFd t(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!t) die("timerfd_create failed");
  return t;
}
void arm(int fd, int64_t at_ns, int64_t period_ns = 0) {
  itimerspec its{};
  its.it_value = {static_cast<time_t>(at_ns / 1'000'000'000), static_cast<long>(at_ns % 1'000'000'000)};
  its.it_interval = {static_cast<time_t>(period_ns / 1'000'000'000), static_cast<long>(period_ns % 1'000'000'000)};
  ::timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, nullptr);
}
void drain(int fd) {
  uint64_t n;
  (void)!::read(fd, &n, sizeof n);
}

// One guest on one monitor for `seconds` (after `warmup`), flipping at random phases.
Result run(const Config& c, double seconds, double warmup, uint32_t seed) {
  auto gpu = Gpu::create({});
  if (!gpu) die(gpu.error());
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

  hostdisplay::VirtualMonitorOptions mo;
  mo.outputs = 1;
  mo.modes = {hostdisplay::Mode{kW, kH, 60'000, "1920x1080", true, {}}};
  auto m = hostdisplay::VirtualMonitor::create(mo);
  if (!m) die(m.error());
  auto& mon = **m;
  Restricted display(mon, c.imports, c.linear_rgb);
  auto planes = directflip::choose_planes(display.resources(), "Virtual-1");
  if (!planes) die(planes.error());
  auto link = directflip::PipeLink::create(**v, Pipe::A, display, *planes);
  if (!link) die(link.error());
  if (auto w = mon.watch_vblanks(planes->crtc_id, true); !w) die(w.error());

  UniqueFd guest_clock = timer(), flip_timer = timer();
  UniqueFd ep = epoll_of({{mon.timer_fd(), 0}, {mon.event_fd(), 1}, {guest_clock.get(), 2}, {flip_timer.get(), 3}});
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
  const auto guest_vblank = [&] {
    const int64_t a = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    (void)(*v)->vblank();
    const int64_t b = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    if (st == St::Queued &&
        ((*v)->vregs().read32(live_reg) & hw::plane::kSurfAddrMask) == surf[back].buffer.gm.value()) {
      st = St::Latched;  // this vblank latched the flip and committed the frame carrying it
      cpu_flip = b - a;
    }
  };
  const auto flip = [&] {
    if (c.damage) {  // 5 % of the picture: 16 boxes of 90 x 72 at 1080p, said with the flip
      guest::DamageBox boxes[16];
      auto* px = g.driver().ram().at(surf[back].buffer.gpa, surf[back].buffer.size);
      if (!px) die("the guest surface is not in RAM");
      const auto val = static_cast<uint8_t>(rng());
      for (auto& b : boxes) {
        b = {static_cast<uint16_t>(rng() % (c.mode.width - 90)), static_cast<uint16_t>(rng() % (c.mode.height - 72)), 90, 72};
        for (uint32_t y = b.y; y < uint32_t{b.y} + b.h; ++y) std::memset(px + size_t{y} * surf[back].stride + b.x * 4u, val, 90 * 4);
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
          ++r.flips;
        }
        st = St::Idle;
        back ^= 1;
        next_flip(at);
      },
      [&](const hostdisplay::VblankEvent& e) {
        if (!c.own_clock) return guest_vblank();
        if (!clock_started) {  // the guest's vblanks half a period after the host's, same rate
          arm(guest_clock.get(), e.timestamp.count() + kPeriod / 2, kPeriod);
          clock_started = true;
        }
      }};

  const int64_t start = now_ns(), rec_at = start + static_cast<int64_t>(warmup * 1e9),
                end = rec_at + static_cast<int64_t>(seconds * 1e9);
  next_flip(start);
  for (int64_t now = start; now < end; now = now_ns()) {
    if (!recording && now >= rec_at) {
      recording = true;
      c0 = (*link)->counters();
      r.monitor_cpu = 0;
    }
    if (st != St::Idle && now - t0 > 1'000'000'000) {  // a flip that never showed: count, go on
      ++r.timeouts;
      st = St::Idle;
      next_flip(now);
    }
    epoll_event evs[4];
    const int n = ::epoll_wait(ep.get(), evs, 4, 100);
    for (int i = 0; i < n; ++i) switch (evs[i].data.u64) {
        case 0: {
          const int64_t a = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
          mon.dispatch_timer();
          r.monitor_cpu += cpu_ns(CLOCK_THREAD_CPUTIME_ID) - a;
          break;
        }
        case 1: mon.dispatch(handlers); break;
        case 2: drain(guest_clock.get()); guest_vblank(); break;
        case 3: drain(flip_timer.get()); if (st == St::Idle) flip(); break;
      }
  }
  const auto& c1 = (*link)->counters();
  r.bytes = c1.bytes_copied - c0.bytes_copied;
  r.imports = c1.imports - c0.imports;
  r.refills = c1.refills - c0.refills;
  r.scaled = c1.scaled_fallbacks - c0.scaled_fallbacks;
  r.commits = c1.commits - c0.commits;
  if (c1.refused || c1.failed_frames) spdlog::warn("{}: {} refused commits, {} failed frames", c.name, c1.refused, c1.failed_frames);
  link->reset();
  return r;
}

// From a random phase to the next tick of a bare 60 Hz timerfd (blocking read).
std::vector<int64_t> bare_timer(double seconds, uint32_t seed) {
  UniqueFd t(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  if (!t) die("timerfd_create failed");
  const int64_t start = now_ns(), end = start + static_cast<int64_t>(seconds * 1e9);
  arm(t.get(), start + kPeriod, kPeriod);
  std::mt19937 rng(seed);
  std::vector<int64_t> lat;
  for (int64_t k = 0; now_ns() < end;) {  // k: ticks consumed
    const int64_t at = start + k * kPeriod + std::uniform_int_distribution<int64_t>(0, kPeriod - 1)(rng);
    const timespec ts{static_cast<time_t>(at / 1'000'000'000), static_cast<long>(at % 1'000'000'000)};
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    const int64_t t0 = now_ns();
    uint64_t n = 0;
    if (::read(t.get(), &n, sizeof n) != sizeof n) die("timerfd read");
    const bool before_tick = t0 < start + (k + 1) * kPeriod;  // else we overslept it: no wait to measure
    k += static_cast<int64_t>(n);
    if (before_tick && n == 1) lat.push_back(now_ns() - t0);
  }
  return lat;
}

double memcpy_us() {
  std::vector<std::byte> a(size_t{kW} * kH * 4, std::byte{1}), b(a.size());
  std::vector<int64_t> t;
  for (int i = 0; i < 100; ++i) {
    const int64_t c = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    std::memcpy(b.data(), a.data(), a.size());
    t.push_back(cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c);
  }
  return summarize(t).p50;
}

void lat_row(const char* label, const Dist& d, uint64_t timeouts) {
  std::printf("%-58s %7zu %8.2f %8.2f %8.2f %8.2f   (%llu timed out)\n", label, d.n, d.p50 / 1e3, d.p90 / 1e3, d.p99 / 1e3,
              d.max / 1e3, static_cast<unsigned long long>(timeouts));
}

}  // namespace

int run_all(int argc, char** argv) {
  double seconds = 10, cpu_seconds = 5, warmup = 1;
  bool vnc = true;
  std::string out = "bench-results";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto val = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--seconds") seconds = std::stod(val());
    else if (a == "--cpu-seconds") cpu_seconds = std::stod(val());
    else if (a == "--warmup") warmup = std::stod(val());
    else if (a == "--out") out = val();
    else if (a == "--no-vnc") vnc = false;
    else {
      std::fprintf(stderr, "usage: directflip_bench [--seconds S] [--cpu-seconds S] [--warmup S] [--no-vnc] [--out DIR]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  const OtherLoad load;
  std::vector<std::string> rows;

  std::printf("== directflip: guest flip (PLANE_SURF at a random phase) -> host page-flip event, 1920x1080, "
              "VirtualMonitor real 60 Hz clock, %.0f s per row\n   %s\n",
              seconds, context_line().c_str());
  std::printf("   one clock: the guest's vblank ticked by the host CRTC's vblank events; own clock: by its own 60 Hz\n"
              "   timer, half a period after the host's. On screen: the page-flip event's timestamp (the vblank it\n"
              "   latched at); delivered: when the owner got it (after the monitor composed the frame in software).\n");
  std::printf("%-58s %7s %8s %8s %8s %8s\n", "", "flips", "p50 ms", "p90 ms", "p99 ms", "max ms");
  const auto latency = [&](const char* label, const char* kind, const std::vector<int64_t>& lat, uint64_t timeouts) {
    const Dist d = summarize(lat);
    lat_row(label, d, timeouts);
    rows.push_back(JObj().str("name", label).str("kind", kind).num("timeouts", static_cast<double>(timeouts))
                       .add("latency", dist_json(d)).dump());
  };
  const Config one{.name = "import, one clock"}, own{.name = "import, own clock", .own_clock = true};
  const Result r1 = run(one, seconds, warmup, 1), r2 = run(own, seconds, warmup, 2);
  latency("direct flip, one clock: write -> on screen", "directflip", r1.shown, r1.timeouts);
  latency("direct flip, one clock: write -> event delivered", "directflip", r1.lat, r1.timeouts);
  latency("direct flip, own clock: write -> on screen", "directflip", r2.shown, r2.timeouts);
  latency("direct flip, own clock: write -> event delivered", "directflip", r2.lat, r2.timeouts);
  if (vnc) {
    const FlipToPixels f = measure_flip_to_pixels(seconds, warmup);
    latency("composed: vgpud -> VNC stream -> pixels in libvncclient", "composed", f.lat, f.timeouts);
  }
  latency("baseline: random phase -> next tick of a bare 60 Hz timerfd", "baseline", bare_timer(seconds, 3), 0);

  const double mc = memcpy_us();
  std::printf("\n== directflip: CPU and bytes per flip, 1920x1080 host mode, one clock, %.0f s per row\n", cpu_seconds);
  std::printf("   p50/p99: thread CPU of the guest vblank that latched the flip (vGPU latch; the link's decode, plan,\n"
              "   feed, commit) and of the link's page-flip handling. compose: the virtual monitor composing the frame\n"
              "   at its latch (what a KMS device's scan-out does in hardware), per flip.\n");
  std::printf("%-40s %6s %9s %9s %10s %8s %8s %12s\n", "", "flips", "p50 us", "p99 us", "MB/flip", "imports", "refills",
              "compose us");
  const Config configs[] = {
      {"import (zero copy)"},
      {.name = "shadow copy (imports refused)", .imports = false},
      {.name = "shadow, XBGR8888 -> XRGB8888 convert", .format = PixelFormat::Xbgr8888, .imports = false, .linear_rgb = true},
      {.name = "shadow, X-tiled detile", .tiling = hw::Tiling::X, .imports = false, .linear_rgb = true},
      {.name = "shadow, damage-only (5 % per frame)", .imports = false, .damage = true},
      {.name = "scaled fallback (1280x720 guest)", .mode = guest::Mode{1280, 720, 1650, 750, 74250}},
  };
  uint32_t seed = 10;
  for (const Config& c : configs) {
    const Result r = run(c, cpu_seconds, warmup, seed++);
    const Dist d = summarize(r.cpu);
    const double n = r.flips ? static_cast<double>(r.flips) : 1;
    std::printf("%-40s %6llu %9.0f %9.0f %10.3f %8.2f %8.2f %12.0f\n", c.name.c_str(),
                static_cast<unsigned long long>(r.flips), d.p50, d.p99, static_cast<double>(r.bytes) / n / 1e6,
                static_cast<double>(r.imports) / n, static_cast<double>(r.refills) / n,
                static_cast<double>(r.monitor_cpu) / n / 1e3);
    rows.push_back(JObj().str("name", c.name).str("kind", "cpu").num("flips", static_cast<double>(r.flips))
                       .add("cpu", dist_json(d)).num("bytes_per_flip", static_cast<double>(r.bytes) / n)
                       .num("imports_per_flip", static_cast<double>(r.imports) / n)
                       .num("refills_per_flip", static_cast<double>(r.refills) / n)
                       .num("scaled_per_flip", static_cast<double>(r.scaled) / n)
                       .num("monitor_us_per_flip", static_cast<double>(r.monitor_cpu) / n / 1e3).dump());
  }
  std::printf("%-40s %6s %9.0f %9s %10.3f\n", "baseline: memcpy of one 1080p frame", "", mc, "", kW * kH * 4 / 1e6);
  rows.push_back(JObj().str("name", "memcpy of one 1080p frame").str("kind", "cpu_baseline").num("cpu_us", mc)
                     .num("bytes_per_flip", kW * kH * 4.0).dump());
  std::printf("   %s\n", noise_note(load.pct()).c_str());
  write_file(out + "/directflip.json", JObj().str("benchmark", "directflip").add("context", context_json())
                                           .num("other_processes_pct", load.pct()).num("memcpy_us", mc)
                                           .add("rows", jlist(rows)).dump());
  return 0;
}

}  // namespace vgd::directflip_bench

int main(int argc, char** argv) { return vgd::directflip_bench::run_all(argc, argv); }
