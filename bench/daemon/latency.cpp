// daemon_bench latency: vblank → consumer woken, at 1, 16 and 64 vGPUs (goal: p99 ≤ 100 µs).
// Measured from the vblank's DEADLINE on the clock's grid (not from when the loop got round to it)
// to the moment a consumer thread blocked in epoll_wait() on the vGPU's eventfd has
// read it, and split into deadline → dispatch (the server thread woke and fired the
// vGPU's timer) and dispatch → consumer (the eventfd hop). One eventfd per vGPU,
// registered over the socket (SetEventfd), consumers on --consumer-threads threads.
// Baselines: a bare 60 Hz timerfd waking a thread, and that thread waking a second one
// through an eventfd (the floor of any design with the consumer on another thread),
// alone and, unless --no-concurrent-baseline, beside every daemon configuration
// (what the same load does to any thread).
//
// How the deadline is known: the clock hands each tick's deadline to the vGPU
// (Vgpu::last_vblank_ns(), inside the vblank listener). The listeners belong to
// events::VgpuEvents, so a probe takes over the vGPU's pipe-state and vblank listeners and does
// what VgpuEvents does with them (a RefreshTracker publishing into the vGPU's EventHub, which the
// server's consumers are registered with), plus a clock read and a note of the deadline for the
// consumer; the only thing it leaves out is the time PollEvents replies carry, which nothing here
// asks for. The cpu and query measurements use no probe: the daemon's own code path, untouched.
#include <fmt/format.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace vgd::daemon_bench {
namespace {

// --one-cpu: the latency part's threads that wake each other (the server loop, the consumers,
// the baselines' two threads) all on CPU 0; -1: wherever the scheduler puts them.
int g_latency_cpu = -1;
void place_latency_thread() {
  if (g_latency_cpu >= 0) set_affinity(::pthread_self(), g_latency_cpu);
}

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

}  // namespace

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
    TimerPair tp(rec, g_latency_cpu);
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
        conns.back()->subscribe(rig.host->vgpus()[i]->id(), efds.back().get());
        probes.push_back(rig.probes[i].get());
      }
      LatencyRow row;
      std::vector<LatencyRow> beside;
      if (g_latency_cpu >= 0) set_affinity(rig.loop.native_handle(), g_latency_cpu);
      WakeConsumers consumers(probes, std::move(efds), std::min<uint32_t>(o.consumer_threads, n), rig.recording);
      std::unique_ptr<TimerPair> tp;
      if (o.concurrent_baseline) tp = std::make_unique<TimerPair>(rig.recording, g_latency_cpu);
      sleep_s(o.warmup);
      rig.recording = true;
      sleep_s(o.seconds);
      rig.recording = false;
      consumers.finish();
      std::vector<int64_t> total, hop, wake;
      for (size_t i = 0; i < rig.probes.size(); ++i) {  // probe i watches vGPU i, under its lock
        const Locked lk(rig.host->vgpus()[i]->lock());
        const Probe& p = *rig.probes[i];
        wake.insert(wake.end(), p.server_wake.begin(), p.server_wake.end());
        row.missed += p.missed;
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

}  // namespace vgd::daemon_bench
