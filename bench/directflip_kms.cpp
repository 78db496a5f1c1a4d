// directflip_bench --kms CARD: the virtio-gpu half of the direct-flip benchmark (docs/direct-flip.md,
// Measured). The same in-process guest, PipeLink and rig as on the VirtualMonitor, on a KMS card's
// first output (bench/run directflip-kms: QEMU's virtio-gpu, inside the guest image's VM under
// TCG, docs/vm.md). What makes sense there:
//  - virtio-gpu has no vblank events (docs/direct-flip.md, Vblank events (KMS)), so the link's
//    clock is the guest's own: only the own-clock latency row, beside the bare 60 Hz timer.
//  - Imports of the guest's memfd pages are refused (no PRIME import of a memfd): the row says so,
//    with the display's reason, and the shadow rows are the path a guest takes.
//  - The guest has the output's mode (copy rows not scaled); the scaled fallback is a 1920x1080
//    guest on it. Baselines (memcpy of one frame, the bare timer) run in the same process.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "daemon/common.h"
#include "directflip/assign.h"
#include "directflip_rig.h"
#include "util/unique_fd.h"
#ifdef VGD_DIRECTFLIP_KMS
#include "hostdisplay/kms_display.h"
#endif

namespace vgd::directflip_bench {

using namespace daemon_bench;  // clocks, distributions, JSON, load

#ifndef VGD_DIRECTFLIP_KMS
int run_kms(const std::string&, double, double, double, bool, const std::string&) {
  die("--kms: this directflip_bench was built without the KMS backend (libdrm-dev)");
}
#else
namespace {

using guest::PixelFormat;

// The output's mode as a guest mode: VESA's timing where it is one of ours, else the picture
// with a reduced blanking at 60 Hz (the bench ticks the guest's vblank itself; the timing only
// names the rate).
guest::Mode guest_mode(uint32_t w, uint32_t h) {
  for (const guest::Mode& m : {guest::kMode1024x768at60, guest::kMode1920x1080at60})
    if (m.width == w && m.height == h) return m;
  const uint32_t ht = w + 160, vt = h + 30;
  return {w, h, ht, vt, static_cast<uint32_t>(uint64_t{ht} * vt * 60 / 1000)};
}

// Why `d` cannot show the guest's pages without a copy ("" when it can): the link's import of
// a guest surface, a memfd of the guest's RAM, asked here directly.
std::string import_refusal(hostdisplay::HostDisplay& d, const guest::Mode& m) {
  UniqueFd fd(::memfd_create("directflip-bench-import", MFD_CLOEXEC));
  const size_t bytes = size_t{m.width} * m.height * 4;
  if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) die("memfd_create failed");
  hostdisplay::BufferLayout l;
  l.width = m.width;
  l.height = m.height;
  l.format = {hw::drm::kXRGB8888, 0};
  l.pitch[0] = m.width * 4;
  auto b = d.import(fd.get(), l);
  return b ? "" : b.error();
}

}  // namespace

int run_kms(const std::string& card, double seconds, double cpu_seconds, double warmup, bool vnc, const std::string& out) {
  auto kms = hostdisplay::KmsDisplay::open(card);
  if (!kms) die(card + ": " + kms.error());
  hostdisplay::HostDisplay& d = **kms;
  if (d.resources().outputs.empty()) die(card + " has no outputs");
  const std::string output = d.resources().outputs[0].name;
  auto planes = directflip::choose_planes(d.resources(), output);
  if (!planes) die(planes.error());
  const hostdisplay::Mode hm = planes->mode;
  const guest::Mode gm = guest_mode(hm.width, hm.height);
  const std::string size = fmt::format("{}x{}", gm.width, gm.height);
  const OtherLoad load;
  std::vector<std::string> rows;
  using Clock = Config::Clock;

  std::printf("== directflip on KMS: %s (%s), output %s, mode %s at %.2f Hz, the guest sized to it; guest flip\n"
              "   (PLANE_SURF at a random phase) -> host page-flip event, %.0f s per row\n   %s\n",
              card.c_str(), d.name().c_str(), output.c_str(), hm.name.c_str(), hm.refresh_mhz / 1e3, seconds,
              context_line().c_str());
  const Config own{.name = "own clock", .mode = gm, .clock = Clock::OwnHalf};
  const Result r = run(own, seconds, warmup, 2, &d);
  // The CRTC is lit now: what the kernel answers for its vblank events (the clock's why).
  std::string vblanks = "the driver gives vblank events";
  if (auto w = d.watch_vblanks(planes->crtc_id, true); !w) vblanks = w.error();
  else (void)d.watch_vblanks(planes->crtc_id, false);
  std::printf("   the guest's vblank: its own 60 Hz timer (vblank events: %s). On screen: the page-flip event's\n"
              "   timestamp; delivered: when the owner got it.\n", vblanks.c_str());
  std::printf("%-58s %7s %8s %8s %8s %8s\n", "", "flips", "p50 ms", "p90 ms", "p99 ms", "max ms");
  latency_row(rows, "direct flip, own clock: write -> on screen", "directflip", r.shown, r.timeouts, r.busy);
  latency_row(rows, "direct flip, own clock: write -> event delivered", "directflip", r.lat, r.timeouts, r.busy);
  if (vnc) {
    const FlipToPixels f = measure_flip_to_pixels(seconds, warmup);
    latency_row(rows, "composed: vgpud -> VNC stream -> pixels in libvncclient", "composed", f.lat, f.timeouts);
  }
  latency_row(rows, "baseline: random phase -> next tick of a bare 60 Hz timerfd", "baseline", bare_timer(seconds, 3), 0);

  const size_t frame = size_t{gm.width} * gm.height * 4;
  const double mc = memcpy_us(frame);
  std::printf("\n== directflip on KMS: CPU and bytes per flip, %s host mode, own clock, %.0f s per row\n", size.c_str(),
              cpu_seconds);
  std::printf("   p50/p99: thread CPU of the guest vblank that latched the flip (vGPU latch; the link's decode, plan,\n"
              "   feed, commit) and of the link's page-flip handling.\n");
  std::printf("%-40s %6s %9s %9s %10s %8s %8s\n", "", "flips", "p50 us", "p99 us", "MB/flip", "imports", "refills");
  const std::string refusal = import_refusal(d, gm);
  if (!refusal.empty()) {
    std::printf("%-40s not available: %s\n", "import (zero copy)", refusal.c_str());
    rows.push_back(JObj().str("name", "import (zero copy)").str("kind", "unavailable").str("why", refusal).dump());
  }
  const guest::Mode scaled = gm.width == 1920 && gm.height == 1080 ? guest::Mode{1280, 720, 1650, 750, 74250}
                                                                   : guest::kMode1920x1080at60;
  const std::string scaled_name = fmt::format("scaled fallback ({}x{} guest)", scaled.width, scaled.height);
  std::vector<Config> configs;
  if (refusal.empty()) configs.push_back({.name = "import (zero copy)", .mode = gm, .clock = Clock::OwnHalf});
  configs.push_back({.name = "shadow copy", .mode = gm, .imports = false, .clock = Clock::OwnHalf});
  configs.push_back({.name = "shadow, XBGR8888 -> XRGB8888 convert", .format = PixelFormat::Xbgr8888, .mode = gm,
                     .imports = false, .linear_rgb = true, .clock = Clock::OwnHalf});
  configs.push_back({.name = "shadow, X-tiled detile", .tiling = hw::Tiling::X, .mode = gm, .imports = false,
                     .linear_rgb = true, .clock = Clock::OwnHalf});
  configs.push_back({.name = "shadow, damage-only (5 % per frame)", .mode = gm, .imports = false, .damage = true,
                     .clock = Clock::OwnHalf});
  configs.push_back({.name = scaled_name, .mode = scaled, .clock = Clock::OwnHalf});
  uint32_t seed = 10;
  for (const Config& c : configs) cpu_row(rows, c, run(c, cpu_seconds, warmup, seed++, &d), false);
  const std::string memcpy_name = "baseline: memcpy of one " + size + " frame";
  std::printf("%-40s %6s %9.0f %9s %10.3f\n", memcpy_name.c_str(), "", mc, "", static_cast<double>(frame) / 1e6);
  rows.push_back(JObj().str("name", "memcpy of one " + size + " frame").str("kind", "cpu_baseline").num("cpu_us", mc)
                     .num("bytes_per_flip", static_cast<double>(frame)).dump());
  std::printf("   %s\n", noise_note(load.pct()).c_str());
  write_file(out + "/directflip-kms.json",
             JObj().str("benchmark", "directflip-kms").str("host", fmt::format("{} {} ({}, no vblank events)", card, output, hm.name))
                 .str("vblank_events", vblanks).str("import", refusal.empty() ? "available" : refusal)
                 .add("frame", JObj().str("label", size).num("bytes", static_cast<double>(frame)).dump())
                 .add("context", context_json()).num("other_processes_pct", load.pct()).num("memcpy_us", mc)
                 .add("rows", jlist(rows)).dump());
  return 0;
}
#endif

}  // namespace vgd::directflip_bench
