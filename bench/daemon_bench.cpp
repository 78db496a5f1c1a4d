// vgpud end to end, in one process: a server::Host with real guests on a real-time clock, the
// server::Server loop on its own thread, and consumers speaking raw protocol packets over the
// UNIX socket (as tests/server_test.cpp does). Three measurements, each next to a baseline
// measured in the same run, each printed as a table and written as JSON (bench/plot_latency.py
// draws them). A plain main, not Google Benchmark: what matters is distributions, not means.
//
//  latency  vblank → consumer woken, at 1, 16 and 64 vGPUs (goal: p99 ≤ 100 µs). Measured from
//           the vblank's DEADLINE on the clock's grid (not from when the loop got round to it)
//           to the moment a consumer thread blocked in epoll_wait() on the vGPU's eventfd has
//           read it, and split into deadline → dispatch (the server thread woke and fired the
//           vGPU's timer) and dispatch → consumer (the eventfd hop). One eventfd per vGPU,
//           registered over the socket (SetEventfd), consumers on --consumer-threads threads.
//           Baselines: a bare 60 Hz timerfd waking a thread, and that thread waking a second one
//           through an eventfd (the floor of any design with the consumer on another thread),
//           alone and, unless --no-concurrent-baseline, beside every daemon configuration
//           (what the same load does to any thread).
//  query    QueryPlane round trip for a plane whose id is already known (exporter cache hit)
//           (goal: p50 ≤ 10 µs), next to a bare SOCK_SEQPACKET ping-pong of the same packet
//           sizes with an echo thread, and an echo thread doing the daemon's packet I/O
//           (epoll + proto::recv_packet/send_packet) but no work. Each row twice: threads where
//           the scheduler puts them, and [1 CPU] with the client and the answering thread pinned
//           to one CPU (in a VM, waking a thread on an idle vCPU costs tens of µs; pinned, a
//           wake-up is a context switch and the row shows the software path). The answering
//           thread's CPU per round trip is reported too.
//  cpu      the server loop thread's CPU with 16, 32 and 64 vGPUs at 1920x1080, 60 Hz, and one
//           viewer-like consumer each (event → QueryPlane primary → GetBuffer on a new id)
//           (goal: 64 vGPUs, daemon ≤ 25 % of one core). The guests' threads (the VMs: their
//           rendering and their trapped MMIO), the viewers' threads and the whole process are
//           reported separately, with the frame rate each guest achieved.
//
// Workloads: "desktop" redraws a whole 1080p X-tiled frame and flips its primary every frame
// (about 3 ms of CPU per frame: a 2-core machine keeps about ten of them at 60 Hz); "video"
// flips a 320x240 sprite every frame over a static 1080p primary (cheap guests, so 64 of them
// do run at 60 Hz and the daemon does all its per-vblank work: latch, flip-done, event, and a
// 1080p primary query per event). Both are run by default; the difference is the guests' cost.
//
// How the deadline is known: the clock hands each tick's deadline to the vGPU
// (Vgpu::last_vblank_ns(), inside the vblank listener). The listeners belong to
// events::VgpuEvents, so a probe takes over the vGPU's pipe-state and vblank listeners and does
// what VgpuEvents does with them (a RefreshTracker publishing into the vGPU's EventHub, which the
// server's consumers are registered with), plus a clock read and a note of the deadline for the
// consumer; the only thing it leaves out is the time PollEvents replies carry, which nothing here
// asks for. The cpu and query measurements use no probe: the daemon's own code path, untouched.
//
// usage: daemon_bench [latency|query|cpu|all]... [--seconds S] [--query-seconds S] [--warmup S]
//          [--latency-vgpus 1,16,64] [--cpu-vgpus 16,32,64] [--latency-workloads video,desktop]
//          [--cpu-workloads desktop,video] [--consumer-threads N] [--no-concurrent-baseline]
//          [--one-cpu] [--out DIR]
// No part named: all three. Writes DIR/daemon-<part>.json (DIR defaults to bench-results).
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "display/vblank_clock.h"
#include "events/event_value.h"
#include "events/refresh_tracker.h"
#include "proto/packet.h"
#include "server/server.h"

using namespace vgd;
using proto::MsgType;
using proto::Packet;

namespace {

// --- Time, CPU, distributions ------------------------------------------------------------------

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t cpu_ns(clockid_t c) {
  timespec ts{};
  if (::clock_gettime(c, &ts) != 0) return 0;
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t thread_cpu_ns(std::thread& t) {
  clockid_t c;
  if (!t.joinable() || ::pthread_getcpuclockid(t.native_handle(), &c) != 0) return 0;
  return cpu_ns(c);
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "daemon_bench: %s\n", why.c_str());
  std::exit(1);
}

// Percentiles by nearest rank, in µs.
struct Dist {
  size_t n = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::vector<std::pair<double, double>> quantiles;  // (q, µs), for the plot
};

Dist summarize(std::vector<int64_t> v) {
  Dist d;
  d.n = v.size();
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const auto i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)]) / 1e3;
  };
  d.mean = static_cast<double>(std::accumulate(v.begin(), v.end(), int64_t{0})) / static_cast<double>(v.size()) / 1e3;
  d.p50 = at(0.5), d.p90 = at(0.9), d.p99 = at(0.99), d.p999 = at(0.999);
  d.max = static_cast<double>(v.back()) / 1e3;
  std::vector<double> qs;
  for (int i = 0; i <= 98; ++i) qs.push_back(i / 100.0);
  for (int i = 990; i <= 999; ++i) qs.push_back(i / 1000.0);
  for (double q : {0.9995, 0.9999}) qs.push_back(q);
  for (double q : qs) d.quantiles.emplace_back(q, q == 0 ? static_cast<double>(v.front()) / 1e3 : at(q));
  d.quantiles.emplace_back(1.0, d.max);
  return d;
}

// --- JSON (flat writer: enough for numbers, strings, lists and objects) ------------------------

std::string jstr(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      o += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      continue;
    }
    o += c;
  }
  return o + "\"";
}
std::string jnum(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

struct JObj {
  std::vector<std::pair<std::string, std::string>> kv;
  JObj& add(std::string k, std::string raw) {
    kv.emplace_back(std::move(k), std::move(raw));
    return *this;
  }
  JObj& num(std::string k, double v) { return add(std::move(k), jnum(v)); }
  JObj& str(std::string k, std::string_view v) { return add(std::move(k), jstr(v)); }
  std::string dump() const {
    std::string o = "{";
    for (size_t i = 0; i < kv.size(); ++i) o += (i ? ", " : "") + jstr(kv[i].first) + ": " + kv[i].second;
    return o + "}";
  }
};
std::string jlist(const std::vector<std::string>& items) {
  std::string o = "[";
  for (size_t i = 0; i < items.size(); ++i) o += (i ? ",\n  " : "\n  ") + items[i];
  return o + (items.empty() ? "]" : "\n]");
}

std::string dist_json(const Dist& d) {
  std::vector<std::string> q;
  for (auto [p, v] : d.quantiles) q.push_back(fmt::format("[{}, {}]", jnum(p), jnum(v)));
  std::string ql = "[";
  for (size_t i = 0; i < q.size(); ++i) ql += (i ? ", " : "") + q[i];
  ql += "]";
  return JObj{}
      .num("n", static_cast<double>(d.n))
      .num("mean_us", d.mean)
      .num("p50_us", d.p50)
      .num("p90_us", d.p90)
      .num("p99_us", d.p99)
      .num("p999_us", d.p999)
      .num("max_us", d.max)
      .add("quantiles_us", ql)
      .dump();
}

std::string context_json() {
  utsname u{};
  ::uname(&u);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  double load[3] = {};
  ::getloadavg(load, 3);
  std::string model;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  const auto t = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&t));
  return JObj{}
      .str("host_name", host)
      .str("date", date)
      .num("num_cpus", static_cast<double>(std::thread::hardware_concurrency()))
      .str("cpu_model", model)
      .str("kernel", fmt::format("{} {}", u.sysname, u.release))
      .add("load_avg", fmt::format("[{}, {}, {}]", jnum(load[0]), jnum(load[1]), jnum(load[2])))
      .dump();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text << "\n";
  if (!f) die("cannot write " + path);
  std::printf("results: %s\n", path.c_str());
}

std::string context_line() {
  double load[3] = {};
  ::getloadavg(load, 3);
  return fmt::format("{} CPUs, load {:.1f} {:.1f} {:.1f}", std::thread::hardware_concurrency(), load[0], load[1], load[2]);
}

// CPU that other processes used while a measurement ran, in % of one core. The machine may be
// shared (builds, fuzzers, CI): a number measured while someone else had a core is not this
// code's number, and the tables say so.
class OtherLoad {
 public:
  OtherLoad() : busy0_(busy_ns()), self0_(cpu_ns(CLOCK_PROCESS_CPUTIME_ID)), wall0_(now_ns()) {}
  double pct() const {
    const double wall = static_cast<double>(now_ns() - wall0_);
    const double others = static_cast<double>((busy_ns() - busy0_) - (cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - self0_));
    return wall > 0 ? std::max(0.0, others / wall * 100) : 0;
  }

 private:
  static int64_t busy_ns() {  // every CPU's non-idle time, from /proc/stat (clock ticks)
    std::ifstream f("/proc/stat");
    std::string cpu;
    int64_t user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    f >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
    return (user + nice + sys + irq + softirq + steal) * (1'000'000'000 / ::sysconf(_SC_CLK_TCK));
  }
  int64_t busy0_, self0_, wall0_;
};

std::string noise_note(double pct) {
  return pct < 10 ? fmt::format("other processes: {:.0f} % of a core", pct)
                  : fmt::format("other processes: {:.0f} % of a core: BUSY MACHINE, rerun for clean numbers", pct);
}

// --- Options ------------------------------------------------------------------------------------

struct Options {
  std::vector<std::string> parts;
  double seconds = 5;         // latency: per configuration; cpu: the measured window
  double query_seconds = 2;   // per query row
  double warmup = 1.5;        // after every guest is up, before measuring
  std::vector<uint32_t> latency_vgpus = {1, 16, 64};
  std::vector<uint32_t> cpu_vgpus = {16, 32, 64};
  std::vector<Workload> latency_workloads = {Workload::Video, Workload::Desktop};
  std::vector<Workload> cpu_workloads = {Workload::Desktop, Workload::Video};
  uint32_t consumer_threads = 2;
  bool concurrent_baseline = true;
  bool one_cpu = false;  // latency: the threads that wake each other on CPU 0
  std::string out = "bench-results";
};

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    out.emplace_back(s.substr(start, comma - start));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::vector<uint32_t> counts(std::string_view s) {
  std::vector<uint32_t> out;
  for (const auto& x : split(s)) {
    const long v = std::strtol(x.c_str(), nullptr, 10);
    if (v < 1 || v > 64) die(fmt::format("vGPU count '{}' outside 1..64", x));
    out.push_back(static_cast<uint32_t>(v));
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string inline_value;  // --flag=value
    bool has_inline = false;
    if (const size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos && a.rfind("--benchmark_", 0) != 0) {
      inline_value = a.substr(eq + 1);
      a.resize(eq);
      has_inline = true;
    }
    auto value = [&]() -> std::string {
      if (has_inline) return inline_value;
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "latency" || a == "query" || a == "cpu") {
      o.parts.push_back(a);
    } else if (a == "all") {
      o.parts = {"latency", "query", "cpu"};
    } else if (a == "--seconds") {
      o.seconds = std::atof(value().c_str());
    } else if (a == "--query-seconds") {
      o.query_seconds = std::atof(value().c_str());
    } else if (a == "--warmup") {
      o.warmup = std::atof(value().c_str());
    } else if (a == "--latency-vgpus") {
      o.latency_vgpus = counts(value());
    } else if (a == "--cpu-vgpus") {
      o.cpu_vgpus = counts(value());
    } else if (a == "--latency-workloads" || a == "--cpu-workloads") {
      auto& list = a == "--cpu-workloads" ? o.cpu_workloads : o.latency_workloads;
      list.clear();
      for (const auto& w : split(value())) {
        auto k = parse_workload(w);
        if (!k || *k == Workload::ModeSwitch) die("workload '" + w + "': desktop, video or console");
        list.push_back(*k);
      }
    } else if (a == "--consumer-threads") {
      o.consumer_threads = static_cast<uint32_t>(std::max(1, std::atoi(value().c_str())));
    } else if (a == "--one-cpu") {
      o.one_cpu = true;
    } else if (a == "--no-concurrent-baseline") {
      o.concurrent_baseline = false;
    } else if (a == "--out") {
      o.out = value();
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: daemon_bench [latency|query|cpu|all]... [--seconds S] [--query-seconds S] [--warmup S]\n"
          "         [--latency-vgpus 1,16,64] [--cpu-vgpus 16,32,64] [--latency-workloads video,desktop]\n"
          "         [--cpu-workloads desktop,video]"
          " [--consumer-threads N] [--no-concurrent-baseline] [--one-cpu] [--out DIR]\n"
          "Durations: --seconds is each latency row and each cpu window (default 5), --query-seconds each\n"
          "query row (2), --warmup the settling time after the guests are up (1.5). Writes\n"
          "DIR/daemon-{latency,query,cpu}.json (DIR: bench-results). --one-cpu: in the latency part, the\n"
          "threads that wake each other (server loop, consumers, baseline threads) all on CPU 0.\n");
      std::exit(0);
    } else if (a.rfind("--benchmark_", 0) == 0) {
      // Google Benchmark flags meant for the other bench programs: not ours.
    } else {
      die("unknown argument '" + a + "' (--help)");
    }
  }
  if (o.parts.empty()) o.parts = {"latency", "query", "cpu"};
  if (!(o.seconds > 0) || !(o.query_seconds > 0) || !(o.warmup >= 0)) die("durations must be positive");
  return o;
}

// --- The daemon, in-process ---------------------------------------------------------------------

// Enough graphics memory for 64 guests at 1920x1080: a double-buffered X-tiled XRGB8888 primary
// is 2 × 7.9 MiB, the cursor 16 KiB. 64 × 24 MiB of aperture plus the host's 128 MiB.
GpuConfig bench_gpu() {
  GpuConfig g;
  g.geometry.aperture_size = 1792 * kMiB;
  g.geometry.fence_count = 512;
  g.types.push_back(VgpuType{"bench_1080p", {24 * kMiB, 16 * kMiB, 4}, 1, 1920, 1080});
  return g;
}

// Publishes one vGPU's refresh events as events::VgpuEvents does, and remembers for each vblank
// that had events its nominal time and when it was dispatched (see the top of the file).
struct Probe {
  static constexpr size_t kRing = 16;
  struct Slot {
    std::atomic<int64_t> deadline{0}, dispatch{0};
  };

  events::EventHub* hub = nullptr;
  events::RefreshTracker tracker;
  // Server side (under the host lock):
  int64_t last_vblank = 0;           // nominal time of the previous vblank
  uint64_t missed = 0;               // deadlines the loop slept through (it fires a late timer once)
  std::vector<int64_t> server_wake;  // deadline → dispatch, while recording
  // Published for the consumer: the deadline and dispatch time of each vblank that had events.
  std::array<Slot, kRing> ring;
  std::atomic<uint64_t> seq{0};
};

struct RigOptions {
  uint32_t vgpus = 1;
  Workload workload = Workload::Desktop;
  bool probes = false;
};

// Host + Server on its own thread + guests; torn down in the right order.
struct Rig {
  std::vector<std::unique_ptr<Probe>> probes;  // outlive the host: its teardown still fires vblanks
  std::atomic<bool> recording{false};
  std::unique_ptr<server::Host> host;
  std::unique_ptr<server::Server> srv;
  std::thread loop;
  std::string path;
  int rc = -1;

  explicit Rig(const RigOptions& ro) {
    static int serial = 0;
    path = fmt::format("/tmp/vgd-daemon-bench-{}-{}.sock", ::getpid(), ++serial);
    DaemonConfig cfg;
    cfg.gpu = bench_gpu();
    cfg.vgpus.assign(ro.vgpus, VgpuSpec{"bench_1080p", ro.workload, guest::kMode1920x1080at60, 64 * kMiB});
    cfg.socket = path;
    cfg.max_clients = ro.vgpus + 8;
    auto h = server::Host::create(cfg);
    if (!h) die("host: " + h.error());
    host = std::move(*h);
    if (ro.probes)
      for (auto& hv : host->vgpus()) install_probe(*hv);
    auto s = server::Server::create(*host, {path, cfg.max_clients, false});
    if (!s) die("server: " + s.error());
    srv = std::move(*s);
    host->start_guests();
    loop = std::thread([this] { rc = srv->run(); });
    wait_for_guests();
  }

  ~Rig() {
    stop_server();
    host->stop_guests();
    srv.reset();
    host.reset();
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  void stop_server() {
    if (!loop.joinable()) return;
    srv->request_stop();
    loop.join();
  }

  void install_probe(server::HostedVgpu& hv) {
    auto& p = *probes.emplace_back(std::make_unique<Probe>());
    p.hub = &hv.events->hub();
    hv.vgpu->set_pipe_state_listener([&p](Vgpu&, hw::Pipe pipe, bool on) { p.hub->publish(p.tracker.on_pipe_state(pipe, on)); });
    hv.vgpu->set_vblank_listener([this, &p](Vgpu& v, const display::VblankReport& r) {
      const int64_t t = now_ns();
      // The clock's deadline for this tick (a tick that slept through deadlines stands for the
      // last of them; the ones before are counted as missed).
      const auto deadline = static_cast<int64_t>(v.last_vblank_ns());
      const auto period = static_cast<int64_t>(display::period_ns_for_mhz(v.display().refresh_mhz()));
      if (p.last_vblank != 0 && deadline - p.last_vblank > period + period / 2)
        p.missed += static_cast<uint64_t>((deadline - p.last_vblank + period / 2) / period - 1);
      p.last_vblank = deadline;
      const uint64_t value = p.tracker.on_vblank(r);
      if (value != 0 && deadline != 0) {
        const uint64_t s = p.seq.load(std::memory_order_relaxed) + 1;
        p.ring[s % Probe::kRing].deadline.store(deadline, std::memory_order_relaxed);
        p.ring[s % Probe::kRing].dispatch.store(t, std::memory_order_relaxed);
        p.seq.store(s, std::memory_order_release);
        if (recording.load(std::memory_order_relaxed)) p.server_wake.push_back(t - deadline);
      }
      p.hub->publish(value);
    });
  }

  // Every guest booted, its pipe on and its display counting vblanks (and, for a flipping
  // workload, flipping).
  void wait_for_guests() {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      bool all = true;
      {
        const std::lock_guard lk(host->lock());
        for (auto& hv : host->vgpus()) {
          if (!hv->session->ok()) die(fmt::format("guest of vGPU {} failed: {}", hv->vgpu->id(), hv->session->error()));
          const auto& st = hv->vgpu->display().stats();
          const auto& f = st.flips[hw::index(hw::Pipe::A)];
          const bool flips = hv->spec.workload == Workload::Console || f[0] + f[1] + f[2] >= 2;
          all = all && hv->vgpu->display().active(hw::Pipe::A) && st.vblanks[0] >= 12 && flips;
        }
      }
      if (all) return;
      if (std::chrono::steady_clock::now() > give_up) die("guests did not come up within 30 s");
      sleep_s(0.05);
    }
  }
};

// A blocking client connection speaking raw packets.
struct Conn {
  UniqueFd fd;
  uint32_t seq = 0;

  explicit Conn(const std::string& path) : fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die(fmt::format("connect {}: {}", path, std::strerror(errno)));
  }
  Packet call(Packet req) {
    req.header.seq = ++seq;
    if (auto s = proto::send_packet(fd.get(), req); !s) die(s.error());
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) die("no reply within 10 s");
    Packet r;
    std::string why;
    if (proto::recv_packet(fd.get(), r, why) != proto::RecvResult::Ok) die("reply: " + why);
    if (r.header.seq != req.header.seq) die("reply out of sequence");
    return r;
  }
  template <class Body>
  Packet call(MsgType t, uint32_t vgpu, const Body& body) {
    Packet p = proto::make_packet(static_cast<uint16_t>(t), 0, vgpu);
    p.append(body);
    return call(std::move(p));
  }
  Packet call(MsgType t, uint32_t vgpu = 0) { return call(proto::make_packet(static_cast<uint16_t>(t), 0, vgpu)); }
  Packet must(Packet r, const char* what) {
    if (r.header.type == proto::kError) die(fmt::format("{}: {}", what, proto::error_text(r)));
    return r;
  }
  void hello(const char* name) {
    proto::HelloRequest h;
    std::snprintf(h.client_name, sizeof h.client_name, "%s", name);
    must(call(MsgType::Hello, 0, h), "Hello");
  }
  // Open the vGPU and register `efd` (a dup is sent) for its events.
  void subscribe(uint32_t vgpu, int efd) {
    must(call(MsgType::Open, vgpu), "Open");
    Packet set = proto::make_packet(static_cast<uint16_t>(MsgType::SetEventfd), 0, vgpu);
    set.fds.emplace_back(::dup(efd));
    must(call(std::move(set)), "SetEventfd");
  }
};

proto::GfxPlaneInfo plane_request(uint32_t type) {
  proto::GfxPlaneInfo q{};
  q.argsz = sizeof q;
  q.flags = proto::kFlagDmabuf;
  q.drm_plane_type = type;
  return q;
}

UniqueFd make_eventfd() {
  UniqueFd e(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!e) die(fmt::format("eventfd: {}", std::strerror(errno)));
  return e;
}

void poke(int efd) {
  const uint64_t one = 1;
  (void)!::write(efd, &one, sizeof one);
}

UniqueFd epoll_of(const std::vector<std::pair<int, uint64_t>>& fds) {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  for (auto [fd, tag] : fds) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) != 0) die(fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }
  return ep;
}

constexpr uint64_t kStopTag = ~0ull;

// --- Thread placement ----------------------------------------------------------------------------

bool set_affinity(pthread_t t, int cpu) {  // cpu < 0: every CPU
  cpu_set_t set;
  CPU_ZERO(&set);
  const int n = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 0; i < std::max(n, 1); ++i)
    if (cpu < 0 || i == cpu) CPU_SET(i, &set);
  return ::pthread_setaffinity_np(t, sizeof set, &set) == 0;
}

// --one-cpu: the latency part's threads that wake each other (the server loop, the consumers,
// the baselines' two threads) all on CPU 0; -1: wherever the scheduler puts them.
int g_latency_cpu = -1;
void place_latency_thread() {
  if (g_latency_cpu >= 0) set_affinity(::pthread_self(), g_latency_cpu);
}

// --- 1. vblank → consumer woken -----------------------------------------------------------------

// A 60 Hz timerfd waking thread A (baseline 1), which wakes thread B through an eventfd
// (baseline 2): the two hops of the daemon's path with nothing else on them.
struct TimerPair {
  static constexpr int64_t kPeriod = 16'666'667;
  std::atomic<bool>* recording;
  UniqueFd stop = make_eventfd(), hop = make_eventfd();
  std::atomic<int64_t> deadline{0};
  std::vector<int64_t> a_lat, b_lat;
  uint64_t missed = 0;
  std::thread a, b;

  explicit TimerPair(std::atomic<bool>& rec) : recording(&rec) {
    a = std::thread([this] { run_a(); });
    b = std::thread([this] { run_b(); });
  }
  ~TimerPair() { finish(); }
  // Stops both threads: their samples are complete after this.
  void finish() {
    if (!a.joinable()) return;
    poke(stop.get());
    a.join();
    b.join();
  }
  TimerPair(const TimerPair&) = delete;
  TimerPair& operator=(const TimerPair&) = delete;

  void run_a() {
    place_latency_thread();
    UniqueFd tfd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    const int64_t first = now_ns() + kPeriod;
    itimerspec spec{};
    spec.it_value = {static_cast<time_t>(first / 1'000'000'000), static_cast<long>(first % 1'000'000'000)};
    spec.it_interval = {0, kPeriod};
    ::timerfd_settime(tfd.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
    UniqueFd ep = epoll_of({{tfd.get(), 0}, {stop.get(), kStopTag}});
    uint64_t fired = 0;
    for (;;) {
      epoll_event ev{};
      if (::epoll_wait(ep.get(), &ev, 1, -1) != 1) continue;
      if (ev.data.u64 == kStopTag) return;
      uint64_t exp = 0;
      if (::read(tfd.get(), &exp, sizeof exp) != static_cast<ssize_t>(sizeof exp)) continue;
      const int64_t t = now_ns();
      const int64_t d = first + static_cast<int64_t>(fired) * kPeriod;  // the oldest expiration read
      fired += exp;
      missed += exp - 1;
      deadline.store(d, std::memory_order_relaxed);
      if (recording->load(std::memory_order_relaxed)) a_lat.push_back(t - d);
      poke(hop.get());
    }
  }
  void run_b() {
    place_latency_thread();
    UniqueFd ep = epoll_of({{hop.get(), 0}, {stop.get(), kStopTag}});
    for (;;) {
      epoll_event ev{};
      if (::epoll_wait(ep.get(), &ev, 1, -1) != 1) continue;
      if (ev.data.u64 == kStopTag) return;
      uint64_t v = 0;
      if (::read(hop.get(), &v, sizeof v) != static_cast<ssize_t>(sizeof v)) continue;
      const int64_t t = now_ns();
      if (recording->load(std::memory_order_relaxed)) b_lat.push_back(t - deadline.load(std::memory_order_relaxed));
    }
  }
};

struct LatencyRow {
  std::string name, kind;  // kind: baseline1 / baseline2 / daemon
  uint32_t vgpus = 0;
  std::string workload, under;  // under: the load a baseline ran beside
  Dist total, server_wake, hop;
  uint64_t events = 0, coalesced = 0, missed = 0;
  double seconds = 0;
};

// Consumers: `threads` threads, each blocked in epoll_wait() on the eventfds of its share of the
// vGPUs.
struct WakeConsumers {
  struct Out {
    std::vector<int64_t> total, hop;
    uint64_t coalesced = 0, spurious = 0;
  };
  std::vector<Probe*> probes;
  std::vector<UniqueFd> efds;
  std::atomic<bool>* recording;
  UniqueFd stop = make_eventfd();
  std::vector<Out> outs;
  std::vector<std::thread> threads;

  WakeConsumers(std::vector<Probe*> p, std::vector<UniqueFd> e, uint32_t nthreads, std::atomic<bool>& rec)
      : probes(std::move(p)), efds(std::move(e)), recording(&rec), outs(nthreads) {
    for (uint32_t k = 0; k < nthreads; ++k) threads.emplace_back([this, k, nthreads] { run(k, nthreads); });
  }
  ~WakeConsumers() { finish(); }
  void finish() {
    if (threads.empty()) return;
    poke(stop.get());
    for (auto& t : threads) t.join();
    threads.clear();
  }
  WakeConsumers(const WakeConsumers&) = delete;
  WakeConsumers& operator=(const WakeConsumers&) = delete;

  void run(uint32_t k, uint32_t n) {
    place_latency_thread();
    std::vector<std::pair<int, uint64_t>> fds{{stop.get(), kStopTag}};
    for (size_t i = k; i < efds.size(); i += n) fds.emplace_back(efds[i].get(), i);
    UniqueFd ep = epoll_of(fds);
    std::vector<uint64_t> last(efds.size());
    for (size_t i = 0; i < efds.size(); ++i) last[i] = probes[i]->seq.load(std::memory_order_acquire);
    Out& out = outs[k];
    epoll_event evs[64];
    for (;;) {
      const int got = ::epoll_wait(ep.get(), evs, 64, -1);
      for (int j = 0; j < got; ++j) {
        if (evs[j].data.u64 == kStopTag) return;
        const size_t i = evs[j].data.u64;
        uint64_t v = 0;
        if (::read(efds[i].get(), &v, sizeof v) != static_cast<ssize_t>(sizeof v)) continue;
        const int64_t t = now_ns();
        Probe& p = *probes[i];
        const uint64_t s = p.seq.load(std::memory_order_acquire);
        if (s == last[i]) {
          ++out.spurious;  // already counted with the previous read
          continue;
        }
        if (s - last[i] > 1) ++out.coalesced;
        const bool rec = recording->load(std::memory_order_relaxed);
        for (uint64_t q = std::max(last[i] + 1, s >= Probe::kRing ? s - Probe::kRing + 1 : 1); q <= s; ++q) {
          const auto& slot = p.ring[q % Probe::kRing];
          if (!rec) continue;
          out.total.push_back(t - slot.deadline.load(std::memory_order_relaxed));
          out.hop.push_back(t - slot.dispatch.load(std::memory_order_relaxed));
        }
        last[i] = s;
      }
    }
  }
};

void print_latency_header() {
  std::printf("%-64s %7s %8s %8s %8s %9s %9s\n", "vblank deadline -> consumer woken", "events", "p50 us", "p90 us", "p99 us",
              "p99.9 us", "max us");
}
void print_latency(const std::string& name, const Dist& d) {
  std::printf("%-64s %7zu %8.1f %8.1f %8.1f %9.1f %9.1f\n", name.c_str(), d.n, d.p50, d.p90, d.p99, d.p999, d.max);
}

std::vector<LatencyRow> baseline_rows(TimerPair& tp, double secs, const std::string& under) {
  LatencyRow a, b;
  a.kind = "baseline1", b.kind = "baseline2";
  a.name = "timerfd 60 Hz -> thread";
  b.name = "timerfd 60 Hz -> thread -> eventfd -> thread";
  a.under = b.under = under;
  a.total = summarize(tp.a_lat);
  b.total = summarize(tp.b_lat);
  a.events = tp.a_lat.size(), b.events = tp.b_lat.size();
  a.missed = b.missed = tp.missed;
  a.seconds = b.seconds = secs;
  return {a, b};
}

std::string latency_row_json(const LatencyRow& r) {
  JObj j;
  j.str("name", r.name).str("kind", r.kind).num("vgpus", r.vgpus).str("workload", r.workload).str("under", r.under);
  j.num("seconds", r.seconds).num("events", static_cast<double>(r.events));
  j.num("coalesced_reads", static_cast<double>(r.coalesced)).num("missed_deadlines", static_cast<double>(r.missed));
  j.add("total", dist_json(r.total));
  if (r.kind == "daemon") j.add("server_wake", dist_json(r.server_wake)).add("hop", dist_json(r.hop));
  return j.dump();
}

void run_latency(const Options& o) {
  const OtherLoad others;
  const std::string context = context_json();  // at the start: the load average is then not ours
  g_latency_cpu = o.one_cpu ? 0 : -1;
  std::printf("\n== latency: vblank deadline -> consumer thread woken (goal p99 <= 100 us); %s\n", context_line().c_str());
  std::printf("   consumers: one eventfd per vGPU, %u thread(s) in epoll_wait; %.1f s per row%s\n", o.consumer_threads, o.seconds,
              o.one_cpu ? "; --one-cpu: server loop, consumers and baseline threads on CPU 0" : "");
  print_latency_header();
  std::vector<LatencyRow> rows;
  auto show = [&](const LatencyRow& r) {
    const char* tag = r.kind == "baseline1" ? "timerfd->thread" : "timerfd->thread->eventfd->thread";
    print_latency(r.kind == "daemon" ? r.name : fmt::format("  baseline {} [{}]", tag, r.under), r.total);
    rows.push_back(r);
  };
  {  // The baselines on a quiet machine.
    std::atomic<bool> rec{false};
    TimerPair tp(rec);
    sleep_s(0.3);
    rec = true;
    sleep_s(o.seconds);
    rec = false;
    tp.finish();
    for (auto& r : baseline_rows(tp, o.seconds, "idle")) show(r);
  }
  for (Workload w : o.latency_workloads) {
    for (uint32_t n : o.latency_vgpus) {
      Rig rig({n, w, true});
      std::vector<std::unique_ptr<Conn>> conns;
      std::vector<UniqueFd> efds;
      std::vector<Probe*> probes;
      for (size_t i = 0; i < rig.host->vgpus().size(); ++i) {
        conns.push_back(std::make_unique<Conn>(rig.path));
        conns.back()->hello("latency-consumer");
        efds.push_back(make_eventfd());
        conns.back()->subscribe(rig.host->vgpus()[i]->vgpu->id(), efds.back().get());
        probes.push_back(rig.probes[i].get());
      }
      LatencyRow row;
      std::vector<LatencyRow> beside;
      if (g_latency_cpu >= 0) set_affinity(rig.loop.native_handle(), g_latency_cpu);
      WakeConsumers consumers(probes, std::move(efds), std::min<uint32_t>(o.consumer_threads, n), rig.recording);
      std::unique_ptr<TimerPair> tp;
      if (o.concurrent_baseline) tp = std::make_unique<TimerPair>(rig.recording);
      sleep_s(o.warmup);
      rig.recording = true;
      sleep_s(o.seconds);
      rig.recording = false;
      consumers.finish();
      std::vector<int64_t> total, hop, wake;
      {
        const std::lock_guard lk(rig.host->lock());
        for (auto& p : rig.probes) {
          wake.insert(wake.end(), p->server_wake.begin(), p->server_wake.end());
          row.missed += p->missed;
        }
      }
      for (auto& out : consumers.outs) {
        total.insert(total.end(), out.total.begin(), out.total.end());
        hop.insert(hop.end(), out.hop.begin(), out.hop.end());
        row.coalesced += out.coalesced;
      }
      row.kind = "daemon";
      row.vgpus = n;
      row.workload = std::string(name(w));
      row.name = fmt::format("vgpud {:2} vGPU{} {} 1080p", n, n == 1 ? " " : "s", name(w));
      row.total = summarize(std::move(total));
      row.hop = summarize(std::move(hop));
      row.server_wake = summarize(std::move(wake));
      row.events = row.total.n;
      row.seconds = o.seconds;
      show(row);
      print_latency("    deadline -> server dispatched it", row.server_wake);
      print_latency("    dispatched -> consumer read eventfd", row.hop);
      if (row.missed || row.coalesced)
        std::printf("    %lu deadline(s) slept through by the loop; %lu consumer read(s) covered more than one vblank\n",
                    static_cast<unsigned long>(row.missed), static_cast<unsigned long>(row.coalesced));
      if (tp) {
        tp->finish();
        for (auto& r : baseline_rows(*tp, o.seconds, fmt::format("beside {} {}", n, name(w)))) show(r);
      }
    }
  }
  const double other_pct = others.pct();
  std::printf("   %s (during this part)\n", noise_note(other_pct).c_str());
  std::vector<std::string> items;
  for (const auto& r : rows) items.push_back(latency_row_json(r));
  write_file(o.out + "/daemon-latency.json",
             JObj{}
                 .str("benchmark", "latency")
                 .num("other_processes_pct", other_pct)
                 .str("title", "vblank deadline -> consumer thread woken")
                 .num("goal_p99_us", 100)
                 .num("consumer_threads", o.consumer_threads)
                 .add("one_cpu", o.one_cpu ? "true" : "false")
                 .add("context", context)
                 .add("rows", jlist(items))
                 .dump());
}

// --- 2. Query + cache hit round trip --------------------------------------------------------

std::vector<std::byte> bytes_of(const Packet& p) {
  std::vector<std::byte> out(sizeof(proto::Header) + p.body.size());
  std::memcpy(out.data(), &p.header, sizeof(proto::Header));
  if (!p.body.empty()) std::memcpy(out.data() + sizeof(proto::Header), p.body.data(), p.body.size());
  return out;
}

Packet query_packet(uint32_t vgpu, uint32_t plane) {
  Packet q = proto::make_packet(static_cast<uint16_t>(MsgType::QueryPlane), 1, vgpu);
  q.append(plane_request(plane));
  return q;
}

// The client side of every row alike: prebuilt bytes out with send(), one blocking recv().
// `check` validates each reply (outside the timed part).
Dist time_round_trips(int fd, const std::vector<std::byte>& req, double seconds,
                      const std::function<bool(const std::byte*, size_t)>& check,
                      const std::function<void()>& on_start = {}) {
  static std::array<std::byte, proto::kMaxPacket> buf;
  auto once = [&]() -> int64_t {
    const int64_t t0 = now_ns();
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) die(fmt::format("send: {}", std::strerror(errno)));
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    const int64_t t1 = now_ns();
    if (n <= 0 || !check(buf.data(), static_cast<size_t>(n))) die("bad reply in a round trip");
    return t1 - t0;
  };
  for (int i = 0; i < 2000; ++i) once();  // warm caches and the scheduler's view of both threads
  std::vector<int64_t> samples;
  samples.reserve(400'000);
  if (on_start) on_start();
  const int64_t end = now_ns() + static_cast<int64_t>(seconds * 1e9);
  while (now_ns() < end) samples.push_back(once());
  return summarize(std::move(samples));
}

bool is_reply(const std::byte* b, size_t n, MsgType t, size_t body) {
  proto::Header h;
  if (n != sizeof h + body) return false;
  std::memcpy(&h, b, sizeof h);
  return h.magic == proto::kMagic && h.type == (static_cast<uint16_t>(t) | proto::kReplyBit);
}

bool is_hit(const std::byte* b, size_t n) {
  if (!is_reply(b, n, MsgType::QueryPlane, sizeof(proto::GfxPlaneInfo))) return false;
  proto::GfxPlaneInfo r;
  std::memcpy(&r, b + sizeof(proto::Header), sizeof r);
  return r.dmabuf_id != 0 && r.drm_format != 0;
}

struct QueryRow {
  std::string name, kind;
  size_t request_bytes = 0, reply_bytes = 0;
  Dist d;
  uint64_t new_ids = 0;  // exporter misses during the row: 0 means every query was a cache hit
  double server_cpu_us = 0;  // the server loop thread's CPU per round trip (daemon rows)
  double other_pct = 0;      // other processes' CPU meanwhile
};

QueryRow query_row(std::string name, std::string kind, size_t request_bytes, size_t reply_bytes) {
  QueryRow r;
  r.name = std::move(name), r.kind = std::move(kind);
  r.request_bytes = request_bytes, r.reply_bytes = reply_bytes;
  return r;
}

void print_query(const QueryRow& r) {
  std::printf("%-66s %5zu/%-5zu %8zu %7.1f %7.1f %7.1f %8.1f %8.1f %s %6.0f\n", r.name.c_str(), r.request_bytes,
              r.reply_bytes, r.d.n, r.d.p50, r.d.p90, r.d.p99, r.d.p999, r.d.max,
              fmt::format("{:10.1f}", r.server_cpu_us).c_str(), r.other_pct);
}

// Thread placement: where the scheduler puts them (on an idle machine, each wake-up of the
// other side may have to wake an idle CPU, which in a VM is a trip through the hypervisor), or
// both sides of a round trip on CPU 0 (a wake-up is then a context switch: the software path).
struct Placement {
  pthread_t other;
  bool one_cpu;
  Placement(pthread_t o, bool one) : other(o), one_cpu(one) {
    if (one_cpu) set_affinity(::pthread_self(), 0), set_affinity(other, 0);
  }
  ~Placement() {
    if (one_cpu) set_affinity(::pthread_self(), -1), set_affinity(other, -1);
  }
  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;
};

void run_query(const Options& o) {
  const OtherLoad part_others;
  const std::string context = context_json();
  std::printf("\n== query: QueryPlane round trip over the socket, plane id already known (goal p50 <= 10 us); %s\n",
              context_line().c_str());
  std::printf("   each row twice: threads where the scheduler puts them, and [1 CPU]: the client and the thread that\n"
              "   answers (echo thread / server loop) both on CPU 0, so that no wake-up has to wake an idle CPU\n");
  std::printf("%-66s %11s %8s %7s %7s %7s %8s %8s %10s %6s\n", "round trip", "bytes", "n", "p50 us", "p90 us", "p99 us",
              "p99.9 us", "max us", "srv us/rt", "other%");
  std::vector<QueryRow> rows;
  const Packet query = query_packet(1, proto::kPlanePrimary);
  const std::vector<std::byte> query_bytes = bytes_of(query);
  Packet reply = proto::make_packet(static_cast<uint16_t>(MsgType::QueryPlane) | proto::kReplyBit, 1, 1);
  proto::GfxPlaneInfo answer = plane_request(proto::kPlanePrimary);
  answer.drm_format = 1, answer.dmabuf_id = 1;
  reply.append(answer);
  const std::vector<std::byte> reply_bytes = bytes_of(reply);
  const auto hit = [](const std::byte* b, size_t n) { return is_hit(b, n); };
  const char* kPlacements[] = {"", " [1 CPU]"};

  // One row: `server` is the thread that answers (pinned with the client for [1 CPU]).
  auto measure = [&](QueryRow r, int fd, const std::vector<std::byte>& req, std::thread& server, bool one_cpu,
                     const std::function<bool(const std::byte*, size_t)>& check) {
    r.name += kPlacements[one_cpu];
    const Placement placed(server.native_handle(), one_cpu);
    int64_t cpu0 = 0;
    const OtherLoad others;
    r.d = time_round_trips(fd, req, o.query_seconds, check, [&] { cpu0 = thread_cpu_ns(server); });
    r.other_pct = others.pct();
    r.server_cpu_us = static_cast<double>(thread_cpu_ns(server) - cpu0) / 1e3 / static_cast<double>(std::max<size_t>(r.d.n, 1));
    return r;
  };
  auto keep = [&](const QueryRow& r) {
    print_query(r);
    rows.push_back(r);
  };

  for (bool one_cpu : {false, true}) {  // Baseline 1: a bare echo thread, blocking recv()/send().
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    UniqueFd client(sv[0]), server(sv[1]);
    std::thread echo([&] {
      std::array<std::byte, proto::kMaxPacket> buf;
      while (::recv(server.get(), buf.data(), buf.size(), 0) > 0)
        if (::send(server.get(), reply_bytes.data(), reply_bytes.size(), MSG_NOSIGNAL) < 0) return;
    });
    keep(measure(query_row("baseline: SOCK_SEQPACKET ping-pong with an echo thread", "baseline", query_bytes.size(),
                           reply_bytes.size()),
                 client.get(), query_bytes, echo, one_cpu, hit));
    ::shutdown(client.get(), SHUT_RDWR);
    echo.join();
  }
  for (bool one_cpu : {false, true}) {  // Baseline 2: the daemon's packet I/O (epoll, recv_packet/send_packet), no work.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    UniqueFd client(sv[0]), server(sv[1]);
    const int fl = ::fcntl(client.get(), F_GETFL);
    ::fcntl(client.get(), F_SETFL, fl & ~O_NONBLOCK);
    std::thread echo([&] {
      UniqueFd ep = epoll_of({{server.get(), 0}});
      for (;;) {
        epoll_event ev{};
        if (::epoll_wait(ep.get(), &ev, 1, -1) != 1) continue;
        for (;;) {
          Packet req;
          std::string why;
          const auto got = proto::recv_packet(server.get(), req, why);
          if (got == proto::RecvResult::WouldBlock) break;
          if (got != proto::RecvResult::Ok) return;
          Packet rep = proto::make_packet(req.header.type | proto::kReplyBit, req.header.seq, req.header.vgpu);
          rep.append(answer);
          (void)proto::send_packet(server.get(), rep);
        }
      }
    });
    keep(measure(query_row("baseline: echo thread with the daemon's epoll + packet I/O", "baseline_io", query_bytes.size(),
                           reply_bytes.size()),
                 client.get(), query_bytes, echo, one_cpu, hit));
    ::shutdown(client.get(), SHUT_RDWR);
    echo.join();
  }
  {  // The daemon: one vGPU, 1080p desktop.
    Rig rig({1, Workload::Desktop, false});
    Conn c(rig.path);
    c.hello("query-bench");
    c.must(c.call(MsgType::Open, 1), "Open");
    for (int i = 0;; ++i) {
      proto::GfxPlaneInfo p{};
      if (c.must(c.call(query_packet(1, proto::kPlanePrimary)), "QueryPlane").read(p) && p.dmabuf_id != 0) break;
      if (i > 500) die("the primary plane never showed");
      sleep_s(0.01);
    }
    // The double buffer's two ids and the cursor's become known (exporter misses) before any row.
    for (int i = 0; i < 100; ++i) {
      (void)c.call(query_packet(1, proto::kPlanePrimary));
      (void)c.call(query_packet(1, proto::kPlaneCursor));
      sleep_s(0.002);
    }
    server::HostedVgpu& hv = *rig.host->vgpus()[0];
    auto misses = [&] {
      const std::lock_guard lk(rig.host->lock());
      return hv.exporter->counters().misses;
    };
    auto row = [&](std::string name, const std::vector<std::byte>& req, size_t reply_body,
                   const std::function<bool(const std::byte*, size_t)>& check) {
      for (bool one_cpu : {false, true}) {
        const uint64_t before = misses();
        QueryRow r = measure(query_row(name, "daemon", req.size(), sizeof(proto::Header) + reply_body), c.fd.get(), req,
                             rig.loop, one_cpu, check);
        r.new_ids = misses() - before;
        keep(r);
        if (r.new_ids) std::printf("    note: %lu new buffer id(s) during the row (not all cache hits)\n", static_cast<unsigned long>(r.new_ids));
      }
    };
    const auto poll_bytes = bytes_of(proto::make_packet(static_cast<uint16_t>(MsgType::PollEvents), 1, 1));
    row("vgpud PollEvents (a request with no plane work)", poll_bytes, sizeof(proto::EventsReply),
        [](const std::byte* b, size_t n) { return is_reply(b, n, MsgType::PollEvents, sizeof(proto::EventsReply)); });
    row("vgpud QueryPlane primary 1080p hit, guest flipping 60 Hz", query_bytes, sizeof(proto::GfxPlaneInfo), hit);
    rig.host->stop_guests();  // the plane stays on screen; the loop keeps running vblanks
    row("vgpud QueryPlane primary 1080p hit, guest stopped", query_bytes, sizeof(proto::GfxPlaneInfo), hit);
    row("vgpud QueryPlane cursor 64x64 hit, guest stopped", bytes_of(query_packet(1, proto::kPlaneCursor)),
        sizeof(proto::GfxPlaneInfo), hit);
  }
  std::vector<std::string> items;
  for (const auto& r : rows)
    items.push_back(JObj{}
                        .str("name", r.name)
                        .str("kind", r.kind)
                        .num("request_bytes", static_cast<double>(r.request_bytes))
                        .num("reply_bytes", static_cast<double>(r.reply_bytes))
                        .num("new_ids", static_cast<double>(r.new_ids))
                        .num("server_cpu_us_per_round_trip", r.server_cpu_us)
                        .num("other_processes_pct", r.other_pct)
                        .add("round_trip", dist_json(r.d))
                        .dump());
  write_file(o.out + "/daemon-query.json", JObj{}
                                               .str("benchmark", "query")
                                               .str("title", "QueryPlane round trip, id already known")
                                               .num("goal_p50_us", 10)
                                               .num("other_processes_pct", part_others.pct())
                                               .add("context", context)
                                               .add("rows", jlist(items))
                                               .dump());
}

// --- 3. Daemon CPU ------------------------------------------------------------------------------

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
  s.server = thread_cpu_ns(rig.loop);
  for (auto& hv : rig.host->vgpus()) s.guests += thread_cpu_ns(hv->thread);
  for (auto& t : viewers.threads) s.consumers += thread_cpu_ns(t);
  {
    const std::lock_guard lk(rig.host->lock());
    for (auto& hv : rig.host->vgpus()) {
      const auto& st = hv->vgpu->display().stats();
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
      w->vgpu = hv->vgpu->id();
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

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::off);
  const Options o = parse(argc, argv);
  std::filesystem::create_directories(o.out);
  for (const auto& part : o.parts) {
    if (part == "latency") run_latency(o);
    if (part == "query") run_query(o);
    if (part == "cpu") run_cpu(o);
  }
  return 0;
}
