// daemon_bench's shared pieces: clocks and CPU time, distributions, the JSON writer and the
// machine context, other processes' load, options, the in-process daemon (Rig, with the latency
// part's probes), a raw protocol connection (Conn), eventfd/epoll helpers, the bare timer
// baselines and thread placement.
// The parts are latency.cpp, query.cpp, cpu.cpp, vnc.cpp, dispatch.cpp, vm*.cpp and untrusted.cpp;
// main.cpp parses the command line.
#pragma once

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "events/refresh_tracker.h"
#include "proto/packet.h"
#include "server/server.h"

namespace vgd::daemon_bench {

using proto::MsgType;
using proto::Packet;

// --- Time, CPU, distributions ------------------------------------------------------------------

int64_t now_ns();
int64_t cpu_ns(clockid_t c);
int64_t thread_cpu_ns(std::thread& t);
int64_t threads_cpu_ns(std::string_view prefix);  // this process's threads whose name starts so
void sleep_s(double s);
[[noreturn]] void die(const std::string& why);

// Percentiles by nearest rank, in µs.
struct Dist {
  size_t n = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::vector<std::pair<double, double>> quantiles;  // (q, µs), for the plot
};
Dist summarize(std::vector<int64_t> v);

// --- JSON (flat writer: enough for numbers, strings, lists and objects) ------------------------

std::string jstr(std::string_view s);
std::string jnum(double v);

struct JObj {
  std::vector<std::pair<std::string, std::string>> kv;
  JObj& add(std::string k, std::string raw) {
    kv.emplace_back(std::move(k), std::move(raw));
    return *this;
  }
  JObj& num(std::string k, double v) { return add(std::move(k), jnum(v)); }
  JObj& str(std::string k, std::string_view v) { return add(std::move(k), jstr(v)); }
  std::string dump() const;
};
std::string jlist(const std::vector<std::string>& items);
std::string dist_json(const Dist& d);
std::string context_json();  // host, date, CPUs, kernel, load average
void write_file(const std::string& path, const std::string& text);
std::string context_line();  // CPUs and load average, for a part's heading

// CPU that other processes used while a measurement ran, in % of one core. The machine may be
// shared (builds, fuzzers, CI): a number measured while someone else had a core is not this
// code's number, and the tables say so.
class OtherLoad {
 public:
  OtherLoad();
  double pct() const;

 private:
  static int64_t busy_ns();  // every CPU's non-idle time, from /proc/stat (clock ticks)
  int64_t busy0_, self0_, wall0_;
};
std::string noise_note(double pct);

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
  uint32_t dispatch_vgpus = 16;  // dispatch: guests beside the querying consumer
  Workload dispatch_workload = Workload::Desktop;  // console leaves a CPU free: no vblank may be skipped
  uint32_t consumer_threads = 2;
  bool concurrent_baseline = true;
  bool one_cpu = false;  // latency: the threads that wake each other on CPU 0
  std::string out = "bench-results";
};

void run_latency(const Options& o);  // latency.cpp
void run_query(const Options& o);    // query.cpp
void run_cpu(const Options& o);      // cpu.cpp
void run_vnc(const Options& o);      // vnc.cpp
// vnc.cpp's guest flip -> pixels in a libvncclient (a desktop guest on the daemon, the bench
// flipping for it at random phases), which directflip_bench puts beside direct flip.
struct FlipToPixels {
  std::vector<int64_t> lat;  // ns
  uint64_t timeouts = 0;
  double period_ms = 0;      // the guest's refresh period
};
FlipToPixels measure_flip_to_pixels(double seconds, double warmup);
void run_dispatch(const Options& o); // dispatch.cpp
void run_vm(const Options& o);       // vm.cpp
void run_vm_drm(const Options& o);   // vm_drm.cpp
// untrusted.cpp: its untrusted consumer is another process, forked by main before any part starts
// a thread (a fork of a threaded process may inherit a lock another thread held; ASan's allocator
// deadlocked so), which waits to be told the daemon's socket over `tell` and answers over `hear`.
struct ConsumerChild {
  pid_t pid = -1;
  UniqueFd tell, hear;
};
ConsumerChild fork_consumer();
void run_untrusted(const Options& o, ConsumerChild& child);

// --- The daemon, in-process ---------------------------------------------------------------------

// Publishes one vGPU's refresh events as events::VgpuEvents does, and remembers for each vblank
// that had events its nominal time and when it was dispatched (see latency.cpp).
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
  bool damage_hints = true;  // offered to the guests (only the console uses them)
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

  explicit Rig(const RigOptions& ro);
  ~Rig();
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  void stop_server();
  int64_t daemon_cpu_ns();  // the server loop's and the vblank clocks' threads
  void install_probe(server::HostedVgpu& hv);
  // Every guest booted, its pipe on and its display counting vblanks (and, for a flipping
  // workload, flipping).
  void wait_for_guests();
};

// A blocking client connection speaking raw packets.
struct Conn {
  UniqueFd fd;
  uint32_t seq = 0;

  explicit Conn(const std::string& path);
  Packet call(Packet req);
  template <class Body>
  Packet call(MsgType t, uint32_t vgpu, const Body& body) {
    Packet p = proto::make_packet(static_cast<uint16_t>(t), 0, vgpu);
    p.append(body);
    return call(std::move(p));
  }
  Packet call(MsgType t, uint32_t vgpu = 0) { return call(proto::make_packet(static_cast<uint16_t>(t), 0, vgpu)); }
  Packet must(Packet r, const char* what);
  void hello(const char* name);
  // Open the vGPU and register `efd` (a dup is sent) for its events.
  void subscribe(uint32_t vgpu, int efd);
};

proto::GfxPlaneInfo plane_request(uint32_t type);
Packet query_packet(uint32_t vgpu, uint32_t plane);

// --- eventfd / epoll ----------------------------------------------------------------------------

UniqueFd make_eventfd();
void poke(int efd);
UniqueFd epoll_of(const std::vector<std::pair<int, uint64_t>>& fds);
constexpr uint64_t kStopTag = ~0ull;

// --- The bare timer baselines --------------------------------------------------------------------

// A 60 Hz timerfd waking thread A (baseline 1), which wakes thread B through an eventfd
// (baseline 2): the two hops of the daemon's path with nothing else on them. Each records the
// time from the timer's deadline to its wake-up while `recording` is set (timer_pair.cpp).
struct TimerPair {
  static constexpr int64_t kPeriod = 16'666'667;
  std::atomic<bool>* recording;
  int cpu;  // where both threads run, -1: wherever the scheduler puts them
  UniqueFd stop = make_eventfd(), hop = make_eventfd();
  std::atomic<int64_t> deadline{0};
  std::vector<int64_t> a_lat, b_lat;
  uint64_t missed = 0;  // timer expirations A slept through
  std::thread a, b;

  explicit TimerPair(std::atomic<bool>& rec, int cpu = -1);
  ~TimerPair() { finish(); }
  // Stops both threads: their samples are complete after this.
  void finish();
  TimerPair(const TimerPair&) = delete;
  TimerPair& operator=(const TimerPair&) = delete;

 private:
  void run_a();
  void run_b();
};

// --- Thread placement ----------------------------------------------------------------------------

bool set_affinity(pthread_t t, int cpu);  // cpu < 0: every CPU

}  // namespace vgd::daemon_bench
