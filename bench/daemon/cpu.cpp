// daemon_bench cpu: the server loop thread's CPU with 16, 32 and 64 vGPUs at 1920x1080, 60 Hz,
// and one viewer-like consumer each (event → QueryPlane primary → GetBuffer on a new id) (goal:
// 64 vGPUs, daemon ≤ 25 % of one core). The guests' threads (the VMs: their rendering and their
// trapped MMIO), the viewers' threads and the whole process are reported separately, with the
// frame rate each guest achieved. No probe: the daemon's own code path, untouched.
#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "events/event_value.h"

namespace vgd::daemon_bench {
namespace {

// One consumer per vGPU, as a viewer: on each event, query the primary plane and fetch the
// buffer when its id is new (kept, as QEMU keeps its recent dma-bufs).
struct Viewer {
  uint32_t vgpu = 0;
  std::unique_ptr<Conn> conn;
  UniqueFd efd;
  std::map<uint32_t, std::vector<UniqueFd>> buffers;
  std::atomic<uint64_t> events{0}, queries{0}, gets{0}, refused{0};
};

struct Viewers {
  std::vector<std::unique_ptr<Viewer>> v;
  UniqueFd stop = make_eventfd();
  std::vector<std::thread> threads;

  void start(uint32_t n) {
    for (uint32_t k = 0; k < n; ++k) threads.emplace_back([this, k, n] { run(k, n); });
  }
  void finish() {
    if (threads.empty()) return;
    poke(stop.get());
    for (auto& t : threads) t.join();
    threads.clear();
  }
  ~Viewers() { finish(); }

  void run(uint32_t k, uint32_t n) {
    std::vector<std::pair<int, uint64_t>> fds{{stop.get(), kStopTag}};
    for (size_t i = k; i < v.size(); i += n) fds.emplace_back(v[i]->efd.get(), i);
    UniqueFd ep = epoll_of(fds);
    epoll_event evs[64];
    for (;;) {
      const int got = ::epoll_wait(ep.get(), evs, 64, -1);
      for (int j = 0; j < got; ++j) {
        if (evs[j].data.u64 == kStopTag) return;
        Viewer& w = *v[evs[j].data.u64];
        uint64_t val = 0;
        if (::read(w.efd.get(), &val, sizeof val) != static_cast<ssize_t>(sizeof val)) continue;
        const auto c = events::decode(val);  // a read can carry several events
        w.events.fetch_add(c.primary + c.sprite + c.cursor + c.display_off, std::memory_order_relaxed);
        Packet r = w.conn->call(query_packet(w.vgpu, proto::kPlanePrimary));
        w.queries.fetch_add(1, std::memory_order_relaxed);
        proto::GfxPlaneInfo p{};
        if (r.header.type == proto::kError || !r.read(p)) {
          w.refused.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (p.dmabuf_id == 0 || w.buffers.count(p.dmabuf_id)) continue;
        Packet b = w.conn->call(MsgType::GetBuffer, w.vgpu, proto::BufferRequest{p.dmabuf_id});
        w.gets.fetch_add(1, std::memory_order_relaxed);
        if (b.header.type == proto::kError) {
          w.refused.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        w.buffers[p.dmabuf_id] = std::move(b.fds);
      }
    }
  }
};

struct CpuSnap {
  int64_t wall = 0, process = 0, server = 0, guests = 0, consumers = 0;
  std::vector<uint64_t> vblanks, flips, events, wakes;
  uint64_t requests = 0;
};

CpuSnap snap(Rig& rig, Viewers& viewers) {
  CpuSnap s;
  s.wall = now_ns();
  s.process = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
  s.server = rig.daemon_cpu_ns();
  for (auto& hv : rig.host->vgpus()) s.guests += thread_cpu_ns(hv->thread());
  for (auto& t : viewers.threads) s.consumers += thread_cpu_ns(t);
  {
    for (auto& hv : rig.host->vgpus()) {
      const Locked lk(hv->lock());
      const auto& st = hv->vgpu().display().stats();
      s.vblanks.push_back(st.vblanks[hw::index(hw::Pipe::A)]);
      // A frame is a flip of the plane the workload redraws: the desktop's primary (its cursor
      // flips along), the video's sprite.
      const auto& f = st.flips[hw::index(hw::Pipe::A)];
      s.flips.push_back(std::max(f[static_cast<size_t>(hw::Plane::Primary)], f[static_cast<size_t>(hw::Plane::Sprite)]));
    }
  }
  for (auto& w : viewers.v) {
    s.events.push_back(w->events.load(std::memory_order_relaxed));
    s.wakes.push_back(w->queries.load(std::memory_order_relaxed));  // one query per wake
  }
  s.requests = rig.srv->stats().requests;
  return s;
}

struct Spread {
  double min = 0, median = 0, max = 0;
};
Spread spread(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  return {v.front(), v[v.size() / 2], v.back()};
}

struct CpuRow {
  uint32_t vgpus = 0;
  std::string workload;
  double seconds = 0;
  double server = 0, guests = 0, consumers = 0, process = 0, other = 0;  // % of one core
  Spread flip_hz, vblank_hz, event_hz, wake_hz;
  double requests_per_s = 0, server_us_per_vblank = 0;
  uint64_t refused = 0;
  double other_processes = 0;  // % of one core other processes used during the window
};

}  // namespace

void run_cpu(const Options& o) {
  const OtherLoad part_others;
  const std::string context = context_json();
  std::printf("\n== cpu: vgpud with N vGPUs flipping 1920x1080 at 60 Hz, one viewer each (goal: 64 vGPUs, daemon <= 25 %% "
              "of one core); %s\n",
              context_line().c_str());
  std::printf("   CPU in %% of one core over %.1f s. daemon = the server loop thread; guests = the VMs' threads (rendering,\n"
              "   and their trapped MMIO); viewers = the %u consumer thread(s). Per vGPU: frames/s = flips of the\n"
              "   plane the guest redraws; wakes/s = viewer wake-ups, each a QueryPlane (+ GetBuffer on a new id)\n",
              o.seconds, o.consumer_threads);
  std::printf("%-12s %9s %8s %9s %9s %8s | %-20s %-20s %9s %16s\n", "vGPUs", "daemon %", "guests %", "viewers %", "process %",
              "rest %", "frames/s min/med/max", "wakes/s min/med/max", "req/s", "daemon us/vblank");
  std::vector<CpuRow> rows;
  for (Workload wl : o.cpu_workloads)
  for (uint32_t n : o.cpu_vgpus) {
    CpuRow r;
    Rig rig({n, wl, false});
    Viewers viewers;
    for (auto& hv : rig.host->vgpus()) {
      auto w = std::make_unique<Viewer>();
      w->vgpu = hv->id();
      w->conn = std::make_unique<Conn>(rig.path);
      w->conn->hello("cpu-viewer");
      w->efd = make_eventfd();
      w->conn->subscribe(w->vgpu, w->efd.get());
      viewers.v.push_back(std::move(w));
    }
    viewers.start(std::min<uint32_t>(o.consumer_threads, n));
    sleep_s(o.warmup);
    const OtherLoad others;
    const CpuSnap a = snap(rig, viewers);
    sleep_s(o.seconds);
    const CpuSnap b = snap(rig, viewers);
    r.other_processes = others.pct();
    viewers.finish();
    r.vgpus = n;
    r.workload = std::string(name(wl));
    const double wall = static_cast<double>(b.wall - a.wall) / 1e9;
    r.seconds = wall;
    auto pct = [&](int64_t x, int64_t y) { return static_cast<double>(y - x) / 1e9 / wall * 100; };
    r.server = pct(a.server, b.server);
    r.guests = pct(a.guests, b.guests);
    r.consumers = pct(a.consumers, b.consumers);
    r.process = pct(a.process, b.process);
    r.other = std::max(0.0, r.process - r.server - r.guests - r.consumers);  // clocks read apart: tiny negatives
    std::vector<double> flips, vblanks, events, wakes;
    uint64_t total_vblanks = 0;
    for (size_t i = 0; i < n; ++i) {
      flips.push_back(static_cast<double>(b.flips[i] - a.flips[i]) / wall);
      vblanks.push_back(static_cast<double>(b.vblanks[i] - a.vblanks[i]) / wall);
      events.push_back(static_cast<double>(b.events[i] - a.events[i]) / wall);
      wakes.push_back(static_cast<double>(b.wakes[i] - a.wakes[i]) / wall);
      total_vblanks += b.vblanks[i] - a.vblanks[i];
    }
    r.flip_hz = spread(flips);
    r.vblank_hz = spread(vblanks);
    r.event_hz = spread(events);
    r.wake_hz = spread(wakes);
    r.requests_per_s = static_cast<double>(b.requests - a.requests) / wall;
    r.server_us_per_vblank = total_vblanks ? static_cast<double>(b.server - a.server) / 1e3 / static_cast<double>(total_vblanks) : 0;
    for (auto& w : viewers.v) r.refused += w->refused.load();
    std::printf("%-12s %9.1f %8.1f %9.1f %9.1f %8.1f | %5.1f %6.1f %6.1f   %5.1f %6.1f %6.1f  %9.0f %16.1f\n",
                fmt::format("{:2} {}", n, r.workload).c_str(), r.server, r.guests,
                r.consumers, r.process, r.other, r.flip_hz.min, r.flip_hz.median, r.flip_hz.max, r.wake_hz.min,
                r.wake_hz.median, r.wake_hz.max, r.requests_per_s, r.server_us_per_vblank);
    if (r.vblank_hz.min < 59)
      std::printf("    vblanks/s per vGPU down to %.1f: the loop thread dispatched so late that deadlines were skipped\n"
                  "    (it waited for a CPU or for the device lock held by a guest)\n",
                  r.vblank_hz.min);
    if (r.other_processes >= 10) std::printf("    %s\n", noise_note(r.other_processes).c_str());
    if (r.refused) std::printf("    %lu request(s) refused\n", static_cast<unsigned long>(r.refused));
    rows.push_back(r);
  }
  std::vector<std::string> items;
  auto spread_json = [](const Spread& s) { return JObj{}.num("min", s.min).num("median", s.median).num("max", s.max).dump(); };
  for (const auto& r : rows)
    items.push_back(JObj{}
                        .num("vgpus", r.vgpus)
                        .str("workload", r.workload)
                        .num("seconds", r.seconds)
                        .num("daemon_pct", r.server)
                        .num("guests_pct", r.guests)
                        .num("viewers_pct", r.consumers)
                        .num("process_pct", r.process)
                        .num("other_pct", r.other)
                        .add("frames_per_s", spread_json(r.flip_hz))
                        .add("vblanks_per_s", spread_json(r.vblank_hz))
                        .add("events_per_s", spread_json(r.event_hz))
                        .add("viewer_wakes_per_s", spread_json(r.wake_hz))
                        .num("requests_per_s", r.requests_per_s)
                        .num("daemon_us_per_vblank", r.server_us_per_vblank)
                        .num("refused", static_cast<double>(r.refused))
                        .num("other_processes_pct", r.other_processes)
                        .dump());
  write_file(o.out + "/daemon-cpu.json", JObj{}
                                             .str("benchmark", "cpu")
                                             .str("title", "vgpud CPU, N vGPUs flipping 1080p at 60 Hz, one viewer each")
                                             .num("goal_daemon_pct", 25)
                                             .num("goal_vgpus", 64)
                                             .num("consumer_threads", o.consumer_threads)
                                             .num("other_processes_pct", part_others.pct())
                                             .add("context", context)
                                             .add("rows", jlist(items))
                                             .dump());
}

}  // namespace vgd::daemon_bench
