// vgpud end to end, in one process: a server::Host with real guests on a real-time clock, the
// server::Server loop on its own thread, and consumers speaking raw protocol packets over the
// UNIX socket (as tests/server_test.cpp does). Five measurements, each next to a baseline
// measured in the same run, each printed as a table and written as JSON (bench/plot_latency.py
// draws them). A plain main, not Google Benchmark: what matters is distributions, not means.
//
//  latency  vblank → consumer woken, at 1, 16 and 64 vGPUs, beside a bare timerfd (latency.cpp)
//  query    QueryPlane round trip on an exporter cache hit, beside bare SOCK_SEQPACKET
//           ping-pongs (query.cpp)
//  cpu      the daemon's CPU with 16, 32 and 64 vGPUs flipping 1080p, beside the guests' and
//           viewers' CPU (cpu.cpp)
//  vnc      the VNC viewers with a real RFB client: guest flip → pixels received, bytes on the
//           wire per workload beside raw full frames, CPU per stream (vnc.cpp)
//  dispatch vblank deadline → the vGPU's vblank emulated, with 16 desktop guests and a consumer
//           querying back to back (its queries/s), beside a bare timerfd (dispatch.cpp)
//  vm       a real QEMU VM through x-pci-proxy-dev: µs per trapped access from the guest, beside
//           in-process dispatch and a bare socket round trip; traps per guest frame (vm.cpp)
//  vm-drm   our DRM driver in a QEMU VM: atomic flip latencies and traps per flip, VNC bytes with
//           and without damage hints (vm_drm.cpp)
//  untrusted a 1080p plane read per flip by a trusted consumer (guest RAM) and an untrusted one in
//           another process (the daemon's plane copies): latency, the daemon's CPU and copies per
//           flip, beside memcpy of one frame (untrusted.cpp)
// Each file's head says what it measures and how; common.h holds what they share.
//
// Workloads: "desktop" redraws a whole 1080p X-tiled frame and flips its primary every frame
// (about 3 ms of CPU per frame: a 2-core machine keeps about ten of them at 60 Hz); "video"
// flips a 320x240 sprite every frame over a static 1080p primary (cheap guests, so 64 of them
// do run at 60 Hz and the daemon does all its per-vblank work: latch, flip-done, event, and a
// 1080p primary query per event). Both are run by default; the difference is the guests' cost.
//
// usage: daemon_bench [latency|query|cpu|vnc|dispatch|vm|vm-drm|untrusted|all]... [--seconds S] [--query-seconds S]
//          [--warmup S] [--latency-vgpus 1,16,64] [--cpu-vgpus 16,32,64] [--dispatch-vgpus 16]
//          [--latency-workloads video,desktop] [--cpu-workloads desktop,video] [--consumer-threads N]
//          [--no-concurrent-baseline] [--one-cpu] [--out DIR]
// No part named: all of them. Writes DIR/daemon-<part>.json (DIR defaults to bench-results).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common.h"

namespace vgd::daemon_bench {
namespace {

const std::vector<std::string> kParts = {"latency", "query", "cpu", "vnc", "dispatch", "vm", "vm-drm", "untrusted"};

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
    if (std::find(kParts.begin(), kParts.end(), a) != kParts.end()) {
      o.parts.push_back(a);
    } else if (a == "all") {
      o.parts = kParts;
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
    } else if (a == "--dispatch-vgpus") {
      const auto c = counts(value());
      if (c.size() != 1) die("--dispatch-vgpus takes one count");
      o.dispatch_vgpus = c[0];
    } else if (a == "--dispatch-workload") {
      const auto k = parse_workload(value());
      if (!k || *k == Workload::ModeSwitch) die("--dispatch-workload: desktop, video or console");
      o.dispatch_workload = *k;
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
          "usage: daemon_bench [latency|query|cpu|vnc|dispatch|vm|vm-drm|untrusted|all]... [--seconds S] [--query-seconds S] [--warmup S]\n"
          "         [--latency-vgpus 1,16,64] [--cpu-vgpus 16,32,64] [--dispatch-vgpus 16] [--dispatch-workload desktop]\n"
          "         [--latency-workloads video,desktop]"
          " [--cpu-workloads desktop,video]"
          " [--consumer-threads N] [--no-concurrent-baseline] [--one-cpu] [--out DIR]\n"
          "Durations: --seconds is each latency row, each cpu window and the dispatch window (default 5), --query-seconds each\n"
          "query row (2), --warmup the settling time after the guests are up (1.5). Writes\n"
          "DIR/daemon-{latency,query,cpu,vnc,dispatch,vm,vm-drm,untrusted}.json (DIR: bench-results). --one-cpu: in the latency part, the\n"
          "threads that wake each other (server loop, consumers, baseline threads) all on CPU 0.\n");
      std::exit(0);
    } else if (a.rfind("--benchmark_", 0) == 0) {
      // Google Benchmark flags meant for the other bench programs: not ours.
    } else {
      die("unknown argument '" + a + "' (--help)");
    }
  }
  if (o.parts.empty()) o.parts = kParts;
  if (!(o.seconds > 0) || !(o.query_seconds > 0) || !(o.warmup >= 0)) die("durations must be positive");
  return o;
}

}  // namespace
}  // namespace vgd::daemon_bench

int main(int argc, char** argv) {
  using namespace vgd::daemon_bench;
  spdlog::set_level(spdlog::level::off);
  const Options o = parse(argc, argv);
  std::filesystem::create_directories(o.out);
  ConsumerChild child;  // forked now, while this process has one thread (common.h)
  if (std::find(o.parts.begin(), o.parts.end(), "untrusted") != o.parts.end()) child = fork_consumer();
  for (const auto& part : o.parts) {
    if (part == "latency") run_latency(o);
    if (part == "query") run_query(o);
    if (part == "cpu") run_cpu(o);
    if (part == "vnc") run_vnc(o);
    if (part == "dispatch") run_dispatch(o);
    if (part == "vm") run_vm(o);
    if (part == "vm-drm") run_vm_drm(o);
    if (part == "untrusted") run_untrusted(o, child);
  }
  return 0;
}
