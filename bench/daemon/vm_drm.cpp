// daemon_bench vm-drm: our Linux DRM driver (guest/linux, docs/guest-driver.md) in a real QEMU VM
// (TCG) on an in-process vgpud, with a FlipSpy relay between QEMU and vgpud and a shell on the
// guest's serial console (the image's vgpu.driver=1 vgpu.shell=1, docs/vm.md):
//   - atomic flips: vgpu-kmstest --bench-flips 300 from the shell. Its own line gives the guest's
//     atomic-commit ioctl → flip event; the relay's PLANE_SURF writes and a consumer thread's
//     event reads give trap → refresh event and event → the guest's next flip. Beside it, the
//     vm part's flip → event for vgpu-guest's video workload (a sprite flip per frame, no driver);
//   - traps per atomic flip (goal ≤ 2): every BAR access the relay saw between the first and the
//     last bench flip, split by register: the flip's own (PLANE_SURF write, PLANE_SURFLIVE read),
//     the vblank poll's PIPE_FRMCOUNT reads, the rest; beside it the driver's sysfs vgpu_traps and
//     vgpu_poll_reads over the whole kmstest run (modeset and off included);
//   - VNC bytes on the wire per second with damage hints offered and not ([[vgpu]] damage_hints),
//     from shell loops: lines written to /dev/tty1 (fbcon); a box of characters that the
//     console's escape sequences move (nothing in the image moves a window: no compositor, and
//     kmstest's cursor and overlay steps are one-shot); a band moving down /dev/fb0 through
//     write() (fbdev's damage from the written range).
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "../../tests/vm_shell.h"
#include "common.h"
#include "hw/bar.h"
#include "hw/display.h"
#include "rfb_client.h"
#include "vm_rig.h"

namespace vgd::daemon_bench {
namespace {

constexpr uint32_t kFlips = 300;
constexpr auto kLong = std::chrono::seconds(300);
// The driver's device directory in sysfs, as a shell word.
constexpr const char* kDev = "$(ls -d /sys/bus/pci/drivers/vgpu_drm/0000:*)";

struct TrapSplit {
  double flips = 0;  // flip periods in the window
  uint64_t surf = 0, surflive = 0, frmcount = 0, ggtt = 0, other = 0;
  std::map<uint32_t, uint64_t> others;  // register offset → count
};

// The bench flips: the primary PLANE_SURF writes of the kmstest run after its modeset's (the first).
std::vector<int64_t> bench_flips(const SpiedRun& r, int64_t from, int64_t to) {
  std::vector<int64_t> f;
  for (int64_t t : r.flips)
    if (t >= from && t <= to) f.push_back(t);
  std::printf("   the relay saw %zu PLANE_SURF writes during vgpu-kmstest (its modeset, %u flips, its off)\n", f.size(), kFlips);
  if (f.size() < kFlips + 1) die("too few: vgpu-kmstest did not flip as often as asked");
  return {f.begin() + 1, f.begin() + 1 + kFlips};
}

// Every access from the first bench flip to the last: kFlips - 1 whole flip periods.
TrapSplit split_traps(const SpiedRun& r, const std::vector<int64_t>& f) {
  const int64_t a = f.front(), b = f.back();
  TrapSplit s;
  s.flips = kFlips - 1;
  const uint32_t surf = hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSurf);
  const uint32_t live = hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSurfLive);
  for (const auto& x : r.accesses) {
    if (x.ns < a || x.ns >= b) continue;
    if (x.write && x.offset == surf) ++s.surf;
    else if (!x.write && x.offset == live) ++s.surflive;
    else if (!x.write && (x.offset & 0xFFF0FFF) == hw::pipe::kFrameCount) ++s.frmcount;  // any pipe
    else if (x.offset >= hw::kGttOffset) ++s.ggtt;  // binding a buffer kmstest made on the way
    else {
      ++s.other;
      ++s.others[x.offset];
    }
  }
  return s;
}

// Guest event read → the guest's next PLANE_SURF write, for wakes between `a` and `b`.
std::vector<int64_t> event_to_next_flip(const std::vector<int64_t>& flips, const std::vector<int64_t>& wakes, int64_t a, int64_t b) {
  std::vector<int64_t> out;
  for (int64_t w : wakes) {
    if (w < a || w >= b) continue;
    const auto it = std::upper_bound(flips.begin(), flips.end(), w);
    if (it != flips.end()) out.push_back(*it - w);
  }
  return out;
}

uint64_t num(const std::string& s, const char* key) {
  std::smatch m;
  if (!std::regex_search(s, m, std::regex(std::string(key) + R"(=(\d+))"))) die(fmt::format("no {}= in:\n{}", key, s));
  return std::stoull(m[1]);
}

struct VncRow {
  std::string load;
  bool offered = false, used = false;
  double steps = 0;  // the guest loop's steps per second
  double events = 0, wire = 0, raw = 0, cpu = 0;  // cpu: the stream's threads, % of a core
};

// One guest loop (started in the background from the shell) watched by an RFB client.
// The loop rewrites the file every step: a read between its truncation and its write sees it
// empty, so read again.
uint64_t guest_steps(test::SerialShell& sh) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    const auto r = sh.run("cat /tmp/steps", std::chrono::seconds(30));
    if (!r || r->status != 0) break;
    if (std::smatch m; std::regex_search(r->output, m, std::regex(R"(\d+)"))) return std::stoull(m[0]);
  }
  die("cannot read the guest loop's step count:\n" + sh.console());
}

// A guest loop doing `step` every `pause_us` (after `setup`; both once in the foreground first,
// so that a failing command fails the bench rather than measuring an idle screen), watched by an
// RFB client for o.seconds.
VncRow vnc_bytes(const Options& o, const VmRig& rig, test::SerialShell& sh, const std::string& load, const std::string& setup,
                 const std::string& step, uint32_t pause_us, bool offered) {
  const auto first = sh.run(setup + "; " + step, std::chrono::seconds(60));
  if (!first || first->status != 0) die(fmt::format("the {} loop's first step failed:\n{}", load, sh.console()));
  auto stream = vnc_stream_for(rig.path, 1);
  RfbClient client(stream->port(), "tight zrle hextile zlib raw");
  const std::string loop = fmt::format("(i=0; while true; do {}; i=$((i+1)); echo $i > /tmp/steps; usleep {}; done) "
                                       ">/dev/null 2>&1 & echo $! > /tmp/loop", step, pause_us);
  const auto started = sh.run(setup + "; " + loop, std::chrono::seconds(30));
  if (!started || started->status != 0) die("the shell did not start the " + load + " loop:\n" + sh.console());
  sleep_s(o.warmup);
  const uint64_t n0 = guest_steps(sh);
  const viewers::VncStats s0 = stream->stats();
  const int64_t t0 = now_ns(), cpu0 = threads_cpu_ns("vnc");
  sleep_s(o.seconds);
  const viewers::VncStats st = stream->stats();
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  const double cpu = static_cast<double>(threads_cpu_ns("vnc") - cpu0) / 1e7 / secs;
  const uint64_t n1 = guest_steps(sh);
  const auto killed = sh.run("kill $(cat /tmp/loop)", std::chrono::seconds(30));
  if (!killed || killed->status != 0) die("the shell did not stop the " + load + " loop:\n" + sh.console());
  VncRow r{load, offered, st.hinted_frames > s0.hinted_frames};
  r.steps = static_cast<double>(n1 - n0) / secs;  // the reads' own time is in neither: close enough
  r.events = static_cast<double>(st.events - s0.events) / secs;
  r.wire = static_cast<double>(st.bytes_sent - s0.bytes_sent) / secs / 1024;
  r.raw = r.events * st.width * st.height * 4 / 1024;
  r.cpu = cpu;
  return r;
}

void vnc_loads(const Options& o, const VmRig& rig, test::SerialShell& sh, bool offered, std::vector<VncRow>& rows) {
  rows.push_back(vnc_bytes(o, rig, sh, "console", "true",
                           "echo \"vm-drm console line $i: the quick brown fox jumps over the lazy dog\" > /dev/tty1", 50000, offered));
  rows.push_back(vnc_bytes(o, rig, sh, "fb0 band",
                           "s=$(cat /sys/class/graphics/fb0/stride); h=$(( $(cut -d, -f2 /sys/class/graphics/fb0/virtual_size) / 2 )); "
                           "head -c $((s*128)) /bin/busybox > /tmp/band; y=0",
                           "dd if=/tmp/band of=/dev/fb0 bs=$s seek=$((y+8)) conv=notrunc 2>/dev/null && "
                           "dd if=/dev/zero of=/dev/fb0 bs=$s seek=$y count=8 conv=notrunc 2>/dev/null && "
                           "y=$(( (y+8) % (h-136) ))",
                           33000, offered));
  // A 40x12-character box of '#' on the console moving one row down and two columns right per
  // step: the console's escape sequences erase it at its old place and draw it at the new.
  rows.push_back(vnc_bytes(o, rig, sh, "moving box",
                           "b=########################################; e=$(printf '%40s' ''); x=1; y=1; printf '\\033[2J' > /dev/tty1",
                           "t=''; r=0; while [ $r -lt 12 ]; do t=\"$t\\033[$((y+r));${x}H$e\"; r=$((r+1)); done; "
                           "y=$((y % 30 + 1)); x=$((x % 60 + 2)); r=0; "
                           "while [ $r -lt 12 ]; do t=\"$t\\033[$((y+r));${x}H$b\"; r=$((r+1)); done; printf \"$t\" > /dev/tty1",
                           33000, offered));
}

// Waits for the shell and checks that vgpu_drm bound the device.
void boot_shell(VmRun& vm) {
  vm.wait_for("shell on the serial console", kLong);
  // The image has no /tmp: the guest loops keep their files there.
  const auto r = vm.shell().run("mkdir -p /tmp && ls -d /sys/bus/pci/drivers/vgpu_drm/0000:*", std::chrono::seconds(60));
  if (!r || r->status != 0) die("vgpu_drm did not bind:\n" + vm.shell().console());
}

}  // namespace

void run_vm_drm(const Options& o) {
  std::printf("\n== vm-drm: vgpu_drm in a QEMU VM (TCG) on vgpud, FlipSpy relay; %s\n", context_line().c_str());
  const auto files = find_vm_files();
  if (!files) return;
  const OtherLoad load;
  std::string kms_line, sysfs_before, sysfs_after;
  uint64_t host0 = 0, host1 = 0;
  int64_t k0 = 0, k1 = 0;
  std::vector<VncRow> vnc;
  SpiedRun drm, video;
  {
    VmRig rig(true);
    drm = spied_run(rig, *files, "vgpu.driver=1 vgpu.shell=1", true, [&](VmRun& vm) {
      boot_shell(vm);
      auto& sh = vm.shell();
      const std::string counters = fmt::format("echo traps=$(cat {0}/vgpu_traps) polls=$(cat {0}/vgpu_poll_reads)", kDev);
      sysfs_before = sh.run(counters, std::chrono::seconds(30)).value_or(test::SerialShell::Result{}).output;
      host0 = rig.traps();
      k0 = now_ns();
      const auto r = sh.run(fmt::format("vgpu-kmstest --bench-flips {}", kFlips), kLong);
      k1 = now_ns();
      host1 = rig.traps();
      if (!r || r->status != 0) die("vgpu-kmstest --bench-flips failed:\n" + sh.console());
      kms_line = r->output;
      sysfs_after = sh.run(counters, std::chrono::seconds(30)).value_or(test::SerialShell::Result{}).output;
      vnc_loads(o, rig, sh, true, vnc);
    });
    rig.wait_detached();
    video = spied_run(rig, *files, "vgpu.workload=video vgpu.frames=300 vgpu.then=hold", false,
                      [](VmRun& vm) { vm.wait_for("holding frame 300", kLong); });
  }
  {
    VmRig rig(false);
    spied_run(rig, *files, "vgpu.driver=1 vgpu.shell=1", true, [&](VmRun& vm) {
      boot_shell(vm);
      vnc_loads(o, rig, vm.shell(), false, vnc);
    });
  }

  // 1. Latencies.
  const std::vector<int64_t> flips = bench_flips(drm, k0, k1);
  const TrapSplit t = split_traps(drm, flips);
  const Dist trap_event = summarize(flip_to_wake(flips, drm.wakes));
  const Dist event_flip = summarize(event_to_next_flip(flips, drm.wakes, flips.front(), flips.back()));
  std::vector<int64_t> sprite_flips;
  const uint32_t sprite_surf = hw::plane::reg(hw::Pipe::A, 2, hw::plane::kSurf);
  for (const auto& a : video.accesses)
    if (a.write && a.offset == sprite_surf) sprite_flips.push_back(a.ns);
  const Dist video_flip = summarize(flip_to_wake(sprite_flips, video.sprite_wakes));
  const double ioctl50 = static_cast<double>(num(kms_line, "p50_us")), ioctl99 = static_cast<double>(num(kms_line, "p99_us"));
  std::printf("%-62s %8s %10s %10s\n", "atomic flips (vgpu-kmstest --bench-flips 300)", "n", "p50 us", "p99 us");
  std::printf("%-62s %8llu %10.0f %10.0f\n", "guest: atomic-commit ioctl -> flip event (kmstest)",
              static_cast<unsigned long long>(num(kms_line, "flips")), ioctl50, ioctl99);
  std::printf("%-62s %8zu %10.0f %10.0f\n", "host: PLANE_SURF trap (relay) -> consumer refresh event read", trap_event.n, trap_event.p50, trap_event.p99);
  std::printf("%-62s %8zu %10.0f %10.0f\n", "host: consumer event read -> the guest's next PLANE_SURF trap", event_flip.n, event_flip.p50, event_flip.p99);
  std::printf("%-62s %8zu %10.0f %10.0f\n", "  baseline: vgpu-guest video, sprite SURF trap -> event read", video_flip.n, video_flip.p50, video_flip.p99);

  // 2. Traps per flip.
  const uint64_t g_traps = num(sysfs_after, "traps") - num(sysfs_before, "traps");
  const uint64_t g_polls = num(sysfs_after, "polls") - num(sysfs_before, "polls");
  const double per = (t.surf + t.surflive + t.frmcount + t.other) / t.flips;
  std::printf("traps per atomic flip (goal <= 2), at the relay over %.0f flip periods: %.2f = the flip's own %.2f"
              " (PLANE_SURF write %.2f + PLANE_SURFLIVE read %.2f) + the vblank poll's PIPE_FRMCOUNT reads %.2f"
              " + other registers %.2f\n", t.flips, per, (t.surf + t.surflive) / t.flips, t.surf / t.flips,
              t.surflive / t.flips, t.frmcount / t.flips, t.other / t.flips);
  std::printf("   not counted above: %llu GGTT entry writes (%.2f per flip), binding the buffers kmstest allocates as it goes\n",
              static_cast<unsigned long long>(t.ggtt), t.ggtt / t.flips);
  for (const auto& [off, n] : t.others) std::printf("   other register 0x%05x: %llu\n", off, static_cast<unsigned long long>(n));
  std::printf("   whole kmstest run (modeset + %u flips + off), per flip: driver sysfs vgpu_traps %.2f, vgpu_poll_reads %.2f;"
              " host MMIO counters %.2f\n", kFlips, static_cast<double>(g_traps) / kFlips, static_cast<double>(g_polls) / kFlips,
              static_cast<double>(host1 - host0) / kFlips);

  // 3. VNC.
  std::printf("VNC, one client (default encodings), %.0f s per row; hints offered by the device ([[vgpu]] damage_hints), used by the guest\n",
              o.seconds);
  std::printf("%-12s %-8s %-6s %8s %9s %12s %16s %9s\n", "load", "offered", "used", "steps/s", "events/s", "wire KiB/s",
              "raw frames KiB/s", "vnc CPU%");
  for (const auto& r : vnc)
    std::printf("%-12s %-8s %-6s %8.1f %9.1f %12.1f %16.0f %9.2f\n", r.load.c_str(), r.offered ? "yes" : "no",
                r.used ? "yes" : "no", r.steps, r.events, r.wire, r.raw, r.cpu);
  std::printf("   %s\n", noise_note(load.pct()).c_str());

  std::vector<std::string> jv, jo;
  for (const auto& r : vnc)
    jv.push_back(JObj().str("load", r.load).str("hints_offered", r.offered ? "yes" : "no").str("hints_used", r.used ? "yes" : "no")
                     .num("guest_steps_per_s", r.steps).num("events_per_s", r.events).num("wire_kib_per_s", r.wire).num("raw_frames_kib_per_s", r.raw).num("vnc_cpu_pct", r.cpu).dump());
  for (const auto& [off, n] : t.others) jo.push_back(JObj().num("offset", off).num("count", static_cast<double>(n)).dump());
  write_file(o.out + "/daemon-vm-drm.json",
             JObj().str("benchmark", "vm-drm").add("context", context_json())
                 .add("ioctl_to_flip_event", JObj().num("n", static_cast<double>(num(kms_line, "flips"))).num("p50_us", ioctl50).num("p99_us", ioctl99).dump())
                 .add("trap_to_event", dist_json(trap_event)).add("event_to_next_flip", dist_json(event_flip))
                 .add("video_flip_to_event", dist_json(video_flip))
                 .add("traps_per_flip", JObj().num("flip_periods", t.flips).num("total", per).num("plane_surf", t.surf / t.flips)
                                            .num("plane_surflive", t.surflive / t.flips).num("frmcount", t.frmcount / t.flips)
                                            .num("other", t.other / t.flips).num("ggtt_writes", static_cast<double>(t.ggtt))
                                            .add("others", jlist(jo)).dump())
                 .add("kmstest_run_per_flip", JObj().num("sysfs_traps", static_cast<double>(g_traps) / kFlips)
                                                  .num("sysfs_poll_reads", static_cast<double>(g_polls) / kFlips)
                                                  .num("host_traps", static_cast<double>(host1 - host0) / kFlips).dump())
                 .add("rows", jlist(jv)).num("other_processes_pct", load.pct()).dump() + "\n");
}

}  // namespace vgd::daemon_bench
