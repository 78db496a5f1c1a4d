// directflip_bench's rig: an in-process guest on a vGPU whose pipe a PipeLink puts on a
// VirtualMonitor with its real 60 Hz clock (the set-up of tests/directflip_pipe_test.cpp), the
// bench flipping for the guest at random phases and timing each flip to the host's page-flip
// event; the link's thread CPU and counters per flip. directflip_bench.cpp prints and writes it.
// With --kms the link drives a KMS card instead (directflip_kms.cpp: virtio-gpu in the guest
// image's VM, docs/vm.md), one KmsDisplay for every run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "guest/display.h"
#include "hostdisplay/host_display.h"
#include "hw/formats.h"

namespace vgd::directflip_bench {

inline constexpr int64_t kPeriod = 16'666'667;  // the monitor's 60 Hz: round(1e12 / 60000 mHz)
inline constexpr uint32_t kW = 1920, kH = 1080;  // the monitor's mode

struct Config {
  std::string name;
  guest::PixelFormat format = guest::PixelFormat::Xrgb8888;
  hw::Tiling tiling = hw::Tiling::Linear;
  guest::Mode mode = guest::kMode1920x1080at60;
  bool imports = true, linear_rgb = false, damage = false;
  // Who ticks the guest's vblank: the vGPU's timer led by the host's vblanks (the link's one
  // clock, docs/direct-flip.md), the host's vblank event itself, or a timer of its own half a
  // period after the host's.
  enum class Clock : uint8_t { Led, HostEvent, OwnHalf } clock = Clock::Led;
};

struct Result {
  // Per flip: write -> the vblank it latched at (the event's timestamp: on screen), write -> the
  // event delivered to the owner (after the monitor composed the frame), the link's thread CPU.
  std::vector<int64_t> shown, lat, cpu;
  uint64_t flips = 0, timeouts = 0, bytes = 0, imports = 0, refills = 0, scaled = 0, commits = 0, busy = 0;
  int64_t monitor_cpu = 0;  // the monitor's latching and composition, in all
  std::vector<int64_t> lead_ns;  // per flip, the link's lead when it was shown (Clock::Led)
};

// Arms a CLOCK_MONOTONIC timerfd at `at_ns` (absolute), then every `period_ns` (0: once).
void arm(int fd, int64_t at_ns, int64_t period_ns = 0);

// One guest on one monitor for `seconds` (after `warmup`), flipping its primary at random phases
// of its frame, each flip once the one before is on screen. `kms`: the link on that display's
// first output instead (lit by the first run in the mode choose_planes gives, docs/direct-flip.md
// Which mode); it has no vblank events here (virtio-gpu), so only Clock::OwnHalf, its timer
// starting at an arbitrary phase.
Result run(const Config& c, double seconds, double warmup, uint32_t seed, hostdisplay::HostDisplay* kms = nullptr);

// directflip_bench.cpp's baselines and rows, which directflip_kms.cpp shares: from a random phase
// to the next tick of a bare 60 Hz timerfd; memcpy of `bytes` (thread CPU, p50 us); one latency
// row and one CPU row (with the monitor's composition column: `compose`) printed and added as JSON.
std::vector<int64_t> bare_timer(double seconds, uint32_t seed);
double memcpy_us(size_t bytes);
void latency_row(std::vector<std::string>& rows, const char* label, const char* kind, const std::vector<int64_t>& lat,
                 uint64_t timeouts, uint64_t busy = 0);
void cpu_row(std::vector<std::string>& rows, const Config& c, const Result& r, bool compose);
// The virtio-gpu half (directflip_kms.cpp): every row that makes sense on `card`'s first output.
int run_kms(const std::string& card, double seconds, double cpu_seconds, double warmup, bool vnc, const std::string& out);

}  // namespace vgd::directflip_bench
