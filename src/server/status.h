// A snapshot of everything vgpud can report about itself and its vGPUs, for the dashboard, /api
// and /metrics (src/web formats it; nothing here knows about HTTP). Plain values: each vGPU
// publishes its own (server::HostedVgpu::published), and a collector reads them without taking
// any vGPU's lock.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "directflip/pipe_link.h"
#include "server/display_links.h"
#include "server/named_count.h"
#include "events/event_hub.h"
#include "exporter/exporter.h"
#include "exporter/tearing.h"
#include "hw/display.h"
#include "mmio/bus.h"
#include "mmio/device_context.h"
#include "util/histogram.h"
#include "util/thread_annotations.h"

namespace vgd::server {

class Host;
class Server;

// A vGPU's VNC viewer, as vgpud's caller fills it in (this layer does not know the viewers:
// web/viewer_status.h converts).
struct ViewerStatus {
  int port = 0;  // 0: no viewer
  uint32_t clients = 0;
  uint64_t frames = 0, updates = 0, bytes_sent = 0, cursor_moves = 0, resizes = 0;
  std::vector<NamedCount> websocket_refused;  // 403s at the port's door, by reason (host, origin, header)
};

// A vGPU served to QEMU VMs (guest = "qemu"): whether one is attached, and how VMs left.
struct VmStatus {
  bool attached = false;
  uint64_t attaches = 0;
  std::vector<NamedCount> detaches;  // by reason (remote::reason_name): peer closed, malformed message, ...
  std::string last_detach;                // "<reason>: <detail>"; empty before the first
};

// A vGPU's pipe on a host output (docs/direct-flip.md, The engine; PipeLink's counters).
// The guest's cursor on the host cursor plane, as the newest commit put it.
struct HostCursorStatus {
  int32_t x = 0, y = 0;  // the image's top-left on the output (may be negative)
  uint32_t width = 0, height = 0;
  int32_t hot_x = 0, hot_y = 0;
};

struct DirectFlipStatus {
  std::string output;
  char pipe = 'A';
  directflip::LinkCounters counters;
  // Whose clock drives the guest's vblank: "host" (the output's vblanks, docs/direct-flip.md,
  // One clock) or "own" (its own timer; clock_reason: why, as the host display said it).
  std::string clock = "own", clock_reason;
  std::optional<HostCursorStatus> cursor = std::nullopt;  // off, or composed into the primary
};

struct VgpuStatus {
  uint32_t id = 0;
  std::string type, workload;
  std::string state;            // running, display-off, failsafe, guest-failed, no-vm (proto::state_name)
  std::string failsafe_reason;  // empty unless failsafe
  std::string tearing;          // none, hold, copy
  bool pv_aware = false;
  bool damage_hints = false;  // the guest has damage hints on (docs/hardware.md, Damage hints)
  uint32_t width = 0, height = 0, refresh_mhz = 0;  // 0 while the display is off
  double fps = 0;  // primary flips per second over the collector's last window
  std::array<double, hw::kPlaneCount> plane_fps{};  // the same per plane (fps == plane_fps[0])
  uint64_t vblanks = 0, interrupts = 0;
  uint64_t resets = 0;  // device resets: machine, function-level, and a VM leaving
  std::array<uint64_t, hw::kPlaneCount> flips{};  // per plane, every pipe added up
  events::HubStats events;
  uint64_t event_consumers = 0;
  Histogram event_latency = latency_histogram();
  MmioStats mmio;
  VgpuCounters counters;
  // Every guest attack (docs/guest-attacks.md), whichever layer counted it: the bus (mmio), the
  // devices (counters) and the queries' decoder.
  AttackCounts attacks;
  exporter::ExporterCounters exporter;
  exporter::TearingCounters tearing_counters;
  // The vblank path: deadline -> vblank emulated on the vGPU's lock; vblanks superseded because
  // the lock stayed busy for a period (late) or dispatched past a deadline (missed).
  Histogram dispatch_delay = dispatch_histogram();
  uint64_t late_vblanks = 0, missed_vblanks = 0;
  ViewerStatus vnc;
  std::optional<VmStatus> vm;  // only for guest = "qemu"
  std::optional<DirectFlipStatus> direct_flip;  // only while its pipe is on a host output
};

// The host display guest pipes are put on (docs/direct-flip.md, In the daemon).
struct HostDisplayStatus {
  std::string name;  // "virtual", "card0"
  std::vector<OutputStatus> outputs;
  DisplayLinkStats links;
  hostdisplay::CommitCounters commits;  // every commit made on it, the bring-ups' modesets included
};

struct DaemonStatus {
  double uptime_s = 0;
  uint64_t clients = 0;  // connected now
  uint64_t connections = 0, requests = 0, errors = 0, malformed = 0, refused = 0;
  uint64_t unread = 0;  // clients closed because they left their replies unread
  uint64_t uid_refused = 0;     // connections refused beyond max_clients_per_uid
  uint64_t hello_timeouts = 0;  // clients closed for sending no Hello in time
  uint64_t denied = 0;                              // requests refused for who the peer is
  uint64_t trusted_opens = 0, untrusted_opens = 0;  // Opens granted, by trust (docs/protocol.md §7)
  std::vector<VgpuStatus> vgpus;
  std::optional<HostDisplayStatus> host_display;  // none: direct flip is off
  const VgpuStatus* find(uint32_t id) const;
};

// Every attack of the catalogue (mmio/guest_attack.h), by name, in catalogue order.
std::vector<NamedCount> guest_attacks(const AttackCounts& a);
// Informational counts (not misbehaviour): VgpuCounters' and the writes a muted (failsafe)
// display block absorbed.
std::vector<NamedCount> access_notes(const VgpuCounters& c, const MmioStats& m);
std::string_view plane_name(size_t plane);  // "primary", "sprite", "cursor"
std::string_view state_name(uint32_t wire_state);  // proto::VgpuState: "running", "display-off", ...

// Flip rates over a window, per plane. The first sample opens a window (rates 0); a sample at
// least kMinRateWindow after the window opened closes it with flips / seconds and opens the next;
// a sooner one keeps the previous rates, so that the page and a Prometheus scraper polling at
// once do not shrink the window to a few flips. A count that went back (reset) gives rate 0.
using PlaneCounts = std::array<uint64_t, hw::kPlaneCount>;
using PlaneRates = std::array<double, hw::kPlaneCount>;
inline constexpr std::chrono::milliseconds kMinRateWindow{500};
struct FlipRate {
  PlaneCounts flips{};                       // at the window's start
  std::chrono::steady_clock::time_point at;  // the window's start
  PlaneRates fps{};                          // over the last closed window
};
FlipRate advance_rate(const std::optional<FlipRate>& prev, const PlaneCounts& flips, std::chrono::steady_clock::time_point now);

// Takes snapshots; remembers the previous one's flip counts to give fps. Thread-safe: the HTTP
// threads call collect() while the server loop and the guests run.
class StatusCollector {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // `now`: where uptime and fps windows read the time (tests give a clock they move by hand).
  explicit StatusCollector(Clock now = &std::chrono::steady_clock::now);
  // Reads what the vGPUs published and the server's stats; takes no vGPU lock.
  DaemonStatus collect(const Host& host, const Server& server);

 private:
  Clock now_;
  std::chrono::steady_clock::time_point started_;
  Mutex mu_;
  std::map<uint32_t, FlipRate> rates_ GUARDED_BY(mu_);  // per vGPU id
};

}  // namespace vgd::server
