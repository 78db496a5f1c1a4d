// daemon_bench dispatch: how late vgpud emulates its vGPUs' vblanks under load, and how many
// queries a consumer gets through meanwhile. 16 vGPUs (--dispatch-vgpus) run the desktop workload
// at 1080p (each guest redraws and flips every frame, more than two cores keep up with, so
// whatever runs vblanks competes with the guests for CPU; --dispatch-workload console leaves a CPU
// free, where no vblank may be skipped) while one consumer sends QueryPlane for
// vGPU 1's primary back to back over the socket. Reported, from one run:
//  - vblank dispatch delay: from each vblank's deadline on the clock's grid to the moment the
//    vGPU's vblank is emulated, from the histogram the daemon keeps per vGPU
//    (VgpuStatus::dispatch_delay as each vGPU publishes it, filled where the vblank runs, on
//    whichever thread that is), all vGPUs merged; percentiles are interpolated within the histogram's buckets;
//  - vblanks skipped: deadlines that passed before the clock was dispatched (Vgpu::missed_vblanks:
//    a late timer fires once for all of them);
//  - the consumer's queries per second and round trip;
//  - beside the same load: a bare 60 Hz timerfd waking one thread (exact samples).
// No probe: the daemon's own code path, untouched.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace vgd::daemon_bench {
namespace {

// Every vGPU's dispatch histogram added up, and their skipped vblanks, as last published.
struct DispatchTotals {
  std::vector<uint64_t> bounds, counts;
  uint64_t sum = 0, skipped = 0;

  static DispatchTotals read(server::Host& host) {
    DispatchTotals t;
    t.bounds = dispatch_histogram().bounds();
    t.counts.assign(t.bounds.size() + 1, 0);
    for (const auto& hv : host.vgpus()) {
      const server::VgpuStatus s = hv->published();
      const Histogram& h = s.dispatch_delay;
      for (size_t i = 0; i < t.counts.size(); ++i) t.counts[i] += h.bucket(i);
      t.sum += h.sum();
      t.skipped += s.missed_vblanks + s.late_vblanks;
    }
    return t;
  }
  DispatchTotals since(const DispatchTotals& before) const {
    DispatchTotals d = *this;
    for (size_t i = 0; i < d.counts.size(); ++i) d.counts[i] -= before.counts[i];
    d.sum -= before.sum, d.skipped -= before.skipped;
    return d;
  }
  uint64_t n() const {
    uint64_t s = 0;
    for (uint64_t c : counts) s += c;
    return s;
  }
  uint64_t over() const { return counts.back(); }  // above the last bound

  // Percentiles interpolated linearly within their bucket (the first starts at 0); a percentile
  // that falls above the last bound reads as that bound, and so does max then. The plotted
  // quantiles are exact: the fraction at or below each bound.
  Dist dist() const {
    Dist d;
    d.n = n();
    if (d.n == 0) return d;
    d.mean = static_cast<double>(sum) / static_cast<double>(d.n) / 1e3;
    auto at = [&](double q) {
      const double rank = q * static_cast<double>(d.n);
      uint64_t below = 0;
      for (size_t i = 0; i < bounds.size(); ++i) {
        if (static_cast<double>(below + counts[i]) >= rank && counts[i] > 0) {
          const double lo = i ? static_cast<double>(bounds[i - 1]) : 0, hi = static_cast<double>(bounds[i]);
          return (lo + (hi - lo) * (rank - static_cast<double>(below)) / static_cast<double>(counts[i])) / 1e3;
        }
        below += counts[i];
      }
      return static_cast<double>(bounds.back()) / 1e3;
    };
    d.p50 = at(0.5), d.p90 = at(0.9), d.p99 = at(0.99), d.p999 = at(0.999);
    size_t top = counts.size() - 1;
    while (top > 0 && counts[top] == 0) --top;
    d.max = static_cast<double>(bounds[std::min(top, bounds.size() - 1)]) / 1e3;
    uint64_t cum = 0;
    for (size_t i = 0; i < bounds.size() && i < top; ++i) {
      cum += counts[i];
      d.quantiles.emplace_back(static_cast<double>(cum) / static_cast<double>(d.n), static_cast<double>(bounds[i]) / 1e3);
    }
    d.quantiles.emplace_back(1.0, d.max);
    return d;
  }
};

// One consumer: QueryPlane for a vGPU's primary, the next as soon as the reply is in.
struct Querier {
  std::atomic<bool>* recording;
  std::atomic<bool> stop{false};
  std::vector<int64_t> round_trips;
  uint64_t errors = 0;
  std::thread t;

  Querier(const std::string& path, uint32_t vgpu, std::atomic<bool>& rec) : recording(&rec) {
    t = std::thread([this, path, vgpu] {
      Conn c(path);
      c.hello("dispatch-querier");
      c.must(c.call(MsgType::Open, vgpu), "Open");
      round_trips.reserve(2'000'000);
      while (!stop.load(std::memory_order_relaxed)) {
        const int64_t t0 = now_ns();
        const Packet r = c.call(query_packet(vgpu, proto::kPlanePrimary));
        const int64_t t1 = now_ns();
        if (!recording->load(std::memory_order_relaxed)) continue;
        round_trips.push_back(t1 - t0);
        if (r.header.type == proto::kError) ++errors;
      }
    });
  }
  ~Querier() { finish(); }
  void finish() {
    if (!t.joinable()) return;
    stop = true;
    t.join();
  }
  Querier(const Querier&) = delete;
  Querier& operator=(const Querier&) = delete;
};

void print_row(const std::string& name, const Dist& d, const std::string& skipped) {
  std::printf("%-62s %7zu %8.1f %8.1f %8.1f %9.1f %9.1f %8s\n", name.c_str(), d.n, d.p50, d.p90, d.p99, d.p999, d.max,
              skipped.c_str());
}

}  // namespace

void run_dispatch(const Options& o) {
  const OtherLoad others;
  const std::string context = context_json();
  const uint32_t n = o.dispatch_vgpus;
  const std::string workload(name(o.dispatch_workload));
  std::printf("\n== dispatch: vblank deadline -> the vGPU's vblank emulated, %u %s 1080p guests and one consumer\n"
              "   querying vGPU 1's primary back to back; %s\n",
              n, workload.c_str(), context_line().c_str());
  std::printf("   %.1f s measured; the daemon's rows from its per-vGPU histograms (interpolated within buckets)\n", o.seconds);
  std::printf("%-62s %7s %8s %8s %8s %9s %9s %8s\n", "deadline -> woken / emulated", "n", "p50 us", "p90 us", "p99 us",
              "p99.9 us", "max us", "skipped");

  std::atomic<bool> recording{false};
  Rig rig({n, o.dispatch_workload, false});
  Querier consumer(rig.path, rig.host->vgpus()[0]->id(), recording);
  TimerPair timer(recording);
  sleep_s(o.warmup);
  const DispatchTotals before = DispatchTotals::read(*rig.host);
  const int64_t t0 = now_ns();
  recording = true;
  sleep_s(o.seconds);
  recording = false;
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  const DispatchTotals during = DispatchTotals::read(*rig.host).since(before);
  consumer.finish();
  timer.finish();

  const Dist delay = during.dist();
  const Dist base = summarize(timer.a_lat);
  const Dist rtt = summarize(consumer.round_trips);
  const double qps = static_cast<double>(rtt.n) / secs;
  const std::string name = fmt::format("vgpud {} vGPUs {} 1080p: vblank emulated", n, workload);
  print_row(name, delay, std::to_string(during.skipped));
  print_row("  baseline timerfd 60 Hz -> thread [beside the same load]", base, std::to_string(timer.missed));
  if (during.over())
    std::printf("    %lu vblank(s) later than the histogram's last bound (%.0f us): max and high percentiles read as it\n",
                static_cast<unsigned long>(during.over()), static_cast<double>(during.bounds.back()) / 1e3);
  std::printf("   consumer: %.0f QueryPlane/s (%lu in %.1f s, %lu error replies); round trip p50 %.1f us, p99 %.1f us, max %.1f us\n",
              qps, static_cast<unsigned long>(rtt.n), secs, static_cast<unsigned long>(consumer.errors), rtt.p50, rtt.p99,
              rtt.max);
  const double other_pct = others.pct();
  std::printf("   %s (during this part)\n", noise_note(other_pct).c_str());

  std::vector<std::string> bounds_us, counts;
  for (uint64_t b : during.bounds) bounds_us.push_back(jnum(static_cast<double>(b) / 1e3));
  for (uint64_t c : during.counts) counts.push_back(jnum(static_cast<double>(c)));
  auto flat = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s + "]";
  };
  const std::string daemon_row = JObj{}
                                     .str("name", name)
                                     .str("kind", "daemon")
                                     .num("vblanks", static_cast<double>(delay.n))
                                     .num("skipped_vblanks", static_cast<double>(during.skipped))
                                     .num("over_last_bound", static_cast<double>(during.over()))
                                     .add("delay", dist_json(delay))
                                     .add("histogram", JObj{}.add("bounds_us", flat(bounds_us)).add("counts", flat(counts)).dump())
                                     .dump();
  const std::string base_row = JObj{}
                                   .str("name", "timerfd 60 Hz -> thread")
                                   .str("kind", "baseline1")
                                   .str("under", fmt::format("beside {} {} + consumer", n, workload))
                                   .num("vblanks", static_cast<double>(base.n))
                                   .num("skipped_vblanks", static_cast<double>(timer.missed))
                                   .add("delay", dist_json(base))
                                   .dump();
  write_file(o.out + "/daemon-dispatch.json",
             JObj{}
                 .str("benchmark", "dispatch")
                 .str("title", "vblank deadline -> vblank emulated, under load, beside a bare timerfd")
                 .num("vgpus", n)
                 .str("workload", workload)
                 .num("seconds", secs)
                 .num("other_processes_pct", other_pct)
                 .add("context", context)
                 .add("rows", jlist({daemon_row, base_row}))
                 .add("consumer", JObj{}
                                      .str("request", "QueryPlane primary, vGPU 1, back to back")
                                      .num("queries", static_cast<double>(rtt.n))
                                      .num("errors", static_cast<double>(consumer.errors))
                                      .num("queries_per_s", qps)
                                      .add("round_trip", dist_json(rtt))
                                      .dump())
                 .dump());
}

}  // namespace vgd::daemon_bench
