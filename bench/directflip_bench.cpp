// directflip_bench: direct flip (docs/direct-flip.md, The engine) measured on the VirtualMonitor
// with its real 60 Hz clock, an in-process guest on a vGPU whose pipe a PipeLink puts on the
// monitor (the set-up of tests/directflip_pipe_test.cpp). A plain program like daemon_bench:
// distributions, not means, each beside a baseline measured in the same run.
//
//  latency  The bench is the guest: at a random phase of its frame it writes PLANE_SURF (a
//           synchronous flip of its 1080p primary) and times until the host's page-flip event
//           of the commit that carries it reaches the monitor's owner. Three guest clocks:
//           "led" (the design, docs/direct-flip.md One clock: the vGPU's vblank timer on the host
//           CRTC's grid, the link's lead before each host vblank, so the commit made at the guest's
//           tick lands at the host vblank just after it), "at the host's vblank event" (the guest
//           ticked by the event itself: the commit made at vblank N lands at N+1) and "own clock"
//           (its own 60 Hz timer, half a period after the host's). Beside them: the composed path (the
//           same flip on vgpud, pixels in a libvncclient through viewers::VncStream, from
//           daemon_bench's vnc part) and a bare 60 Hz timerfd waited on from a random phase (the
//           wait for the next vblank any vblank-latched flip pays).
//  cpu      Per flip (led clock, flips at random phases): the thread CPU of the guest vblank that
//           latched the flip (vGPU latch + the link's decode, plan, feed and commit) and of the
//           link's page-flip handling, with PipeLink::counters() bytes copied, imports and refills
//           per flip, for: import (zero copy), shadow copy (a display refusing imports), conversion
//           (XBGR8888 on a plane taking only XR24/AR24), X-tiled detile (a plane taking linear
//           only), damage-only refill (5 % of the picture per frame in 16 hinted boxes) and the
//           scaled fallback (a 1280x720 guest on the 1920x1080 mode). Beside: memcpy of one
//           1080p frame. The monitor's own composition (what a KMS device does in hardware) is a
//           column of its own.
//
// directflip_rig.{h,cpp} runs one configuration; this file the baselines, tables and JSON;
// directflip_kms.cpp the same on a KMS card (--kms, the virtio-gpu half: bench/run directflip-kms).
//
// usage: directflip_bench [--seconds S] [--cpu-seconds S] [--warmup S] [--no-vnc] [--out DIR] [--kms CARD]
// Writes DIR/directflip.json, with --kms DIR/directflip-kms.json (bench/plot_latency.py draws them).
#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "daemon/common.h"
#include "directflip_rig.h"

namespace vgd::directflip_bench {

using namespace daemon_bench;  // clocks, distributions, JSON, load
using guest::PixelFormat;

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

double memcpy_us(size_t bytes) {
  std::vector<std::byte> a(bytes, std::byte{1}), b(a.size());
  std::vector<int64_t> t;
  for (int i = 0; i < 100; ++i) {
    const int64_t c = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    std::memcpy(b.data(), a.data(), a.size());
    t.push_back(cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c);
  }
  return summarize(t).p50;
}

void latency_row(std::vector<std::string>& rows, const char* label, const char* kind, const std::vector<int64_t>& lat,
                 uint64_t timeouts, uint64_t busy) {
  const Dist d = summarize(lat);
  std::printf("%-58s %7zu %8.2f %8.2f %8.2f %8.2f   (%llu timed out, %llu EBUSY)\n", label, d.n, d.p50 / 1e3, d.p90 / 1e3,
              d.p99 / 1e3, d.max / 1e3, static_cast<unsigned long long>(timeouts), static_cast<unsigned long long>(busy));
  rows.push_back(JObj().str("name", label).str("kind", kind).num("timeouts", static_cast<double>(timeouts))
                     .num("busy_deferrals", static_cast<double>(busy)).add("latency", dist_json(d)).dump());
}

void cpu_row(std::vector<std::string>& rows, const Config& c, const Result& r, bool compose) {
  const Dist d = summarize(r.cpu);
  const double n = r.flips ? static_cast<double>(r.flips) : 1;
  std::printf("%-40s %6llu %9.0f %9.0f %10.3f %8.2f %8.2f", c.name.c_str(), static_cast<unsigned long long>(r.flips), d.p50,
              d.p99, static_cast<double>(r.bytes) / n / 1e6, static_cast<double>(r.imports) / n,
              static_cast<double>(r.refills) / n);
  if (compose) std::printf(" %12.0f", static_cast<double>(r.monitor_cpu) / n / 1e3);
  std::printf("\n");
  rows.push_back(JObj().str("name", c.name).str("kind", "cpu").num("flips", static_cast<double>(r.flips))
                     .add("cpu", dist_json(d)).num("bytes_per_flip", static_cast<double>(r.bytes) / n)
                     .num("imports_per_flip", static_cast<double>(r.imports) / n)
                     .num("refills_per_flip", static_cast<double>(r.refills) / n)
                     .num("scaled_per_flip", static_cast<double>(r.scaled) / n)
                     .num("monitor_us_per_flip", static_cast<double>(r.monitor_cpu) / n / 1e3).dump());
}

int run_all(int argc, char** argv) {
  double seconds = 10, cpu_seconds = 5, warmup = 1;
  bool vnc = true;
  std::string out = "bench-results", kms;
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
    else if (a == "--kms") kms = val();
    else {
      std::fprintf(stderr, "usage: directflip_bench [--seconds S] [--cpu-seconds S] [--warmup S] [--no-vnc] [--out DIR] "
                           "[--kms CARD]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  if (!kms.empty()) return run_kms(kms, seconds, cpu_seconds, warmup, vnc, out);
  const OtherLoad load;
  std::vector<std::string> rows;

  std::printf("== directflip: guest flip (PLANE_SURF at a random phase) -> host page-flip event, 1920x1080, "
              "VirtualMonitor real 60 Hz clock, %.0f s per row\n   %s\n",
              seconds, context_line().c_str());
  std::printf("   led: the guest's vblank timer on the host CRTC's grid, the link's lead before each host vblank;\n"
              "   at event: ticked by the host's vblank event; own clock: its own 60 Hz timer, half a period after the\n"
              "   host's. On screen: the page-flip event's timestamp (the vblank it latched at); delivered: when the\n"
              "   owner got it (after the monitor composed the frame in software).\n");
  std::printf("%-58s %7s %8s %8s %8s %8s\n", "", "flips", "p50 ms", "p90 ms", "p99 ms", "max ms");
  const auto latency = [&](const char* label, const char* kind, const std::vector<int64_t>& lat, uint64_t timeouts,
                           uint64_t busy = 0) { latency_row(rows, label, kind, lat, timeouts, busy); };
  using Clock = Config::Clock;
  const Config led{.name = "import, led clock"}, at_event{.name = "import, at the host's vblank event", .clock = Clock::HostEvent},
      own{.name = "import, own clock", .clock = Clock::OwnHalf};
  const Result r0 = run(led, seconds, warmup, 4), r1 = run(at_event, seconds, warmup, 1), r2 = run(own, seconds, warmup, 2);
  latency("direct flip, led clock: write -> on screen", "directflip", r0.shown, r0.timeouts, r0.busy);
  latency("direct flip, led clock: write -> event delivered", "directflip", r0.lat, r0.timeouts, r0.busy);
  const Dist lead = summarize(r0.lead_ns);
  std::printf("   (the led clock's lead as each flip showed: p50 %.2f, p90 %.2f, max %.2f ms)\n", lead.p50 / 1e3, lead.p90 / 1e3,
              lead.max / 1e3);
  rows.push_back(JObj().str("name", "led clock's lead").str("kind", "lead").add("lead", dist_json(lead)).dump());
  latency("direct flip, at the host's vblank event: on screen", "directflip", r1.shown, r1.timeouts, r1.busy);
  latency("direct flip, at the host's vblank event: delivered", "directflip", r1.lat, r1.timeouts, r1.busy);
  latency("direct flip, own clock: write -> on screen", "directflip", r2.shown, r2.timeouts, r2.busy);
  latency("direct flip, own clock: write -> event delivered", "directflip", r2.lat, r2.timeouts, r2.busy);
  if (vnc) {
    const FlipToPixels f = measure_flip_to_pixels(seconds, warmup);
    latency("composed: vgpud -> VNC stream -> pixels in libvncclient", "composed", f.lat, f.timeouts);
  }
  latency("baseline: random phase -> next tick of a bare 60 Hz timerfd", "baseline", bare_timer(seconds, 3), 0);

  const double mc = memcpy_us(size_t{kW} * kH * 4);
  std::printf("\n== directflip: CPU and bytes per flip, 1920x1080 host mode, led clock, %.0f s per row\n", cpu_seconds);
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
    cpu_row(rows, c, run(c, cpu_seconds, warmup, seed++), true);
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
