// daemon_bench vm: a real QEMU VM (TCG) on an in-process vgpud, started the way a user does it
// (`vgpuctl qemu`), with vgpu-guest inside (docs/vm.md):
//   - µs per trapped register access as the guest sees it (vgpu-guest --bench-mmio: a plain
//     register read and written in a loop over the mapped BAR), with QEMU and vgpud on one CPU and
//     on any CPU;
//   - beside it, in the same run: the floor of the transport (a minimal remote end answering the
//     same VM without a device model), the same access dispatched in-process (Vgpu::read, no
//     transport), and a bare socket round trip between two processes with the proxy's message
//     sizes (40-byte request, 24-byte reply), on one CPU and across two;
//   - traps per guest frame for the desktop and video workloads (the host's MMIO counters over 60
//     frames);
//   - guest flip → consumer event: a relay between QEMU and vgpud times the guest's surface
//     writes, a consumer thread its eventfd reads.
// Needs qemu-system-x86_64 and the guest image (cmake --build build --target guest-image).
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "client/connection.h"
#include "common.h"
#include "vm_peers.h"
#include "vm_rig.h"
#include "server/host.h"
#include "server/server.h"

namespace vgd::daemon_bench {
namespace {

constexpr uint32_t kAccesses = 20000;

// Two processes exchanging x-pci-proxy-dev-sized messages over a stream socketpair.
double socket_round_trip_us(int cpu_a, int cpu_b, uint32_t n) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  const pid_t child = ::fork();
  if (child == 0) {
    pin_self(cpu_b);
    char buf[40];
    for (uint32_t i = 0; i < n; ++i) {
      if (::recv(sv[1], buf, 40, MSG_WAITALL) != 40) ::_exit(1);
      if (::send(sv[1], buf, 24, 0) != 24) ::_exit(1);
    }
    ::_exit(0);
  }
  pin_self(cpu_a);
  char buf[40] = {};
  const int64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; ++i) {
    if (::send(sv[0], buf, 40, 0) != 40 || ::recv(sv[0], buf, 24, MSG_WAITALL) != 24) die("ping-pong");
  }
  const int64_t t1 = now_ns();
  ::waitpid(child, nullptr, 0);
  ::close(sv[0]);
  ::close(sv[1]);
  pin_self(-1);
  return static_cast<double>(t1 - t0) / n / 1000.0;
}

double inprocess_us(VmRig& rig, uint32_t n) NO_THREAD_SAFETY_ANALYSIS {
  auto* hv = rig.host->find(1);
  const Locked lk(hv->lock());
  uint64_t v = 0, sum = 0;
  const int64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; ++i) {
    (void)hv->vgpu().read(MmioOffset(0x1000), 4, v);
    sum += v;
  }
  const int64_t t1 = now_ns();
  if (sum == 1) std::puts("");  // keeps the loop
  return static_cast<double>(t1 - t0) / n / 1000.0;
}

// Guest flip (the surface write leaving QEMU) → a consumer's eventfd read, for a desktop in a VM.
Dist flip_to_event(VmRig& rig, const VmFiles& f) {
  const SpiedRun r = spied_run(rig, f, "vgpu.workload=desktop vgpu.frames=300 vgpu.then=hold", false,
                               [](VmRun& vm) { vm.wait_for("holding frame 300"); });
  return summarize(flip_to_wake(r.flips, r.wakes));
}

struct TrapRow {
  std::string name;
  double read_us = 0, write_us = 0;
};

}  // namespace

void run_vm(const Options& o) {
  std::printf("\n== vm: a QEMU VM (TCG) on vgpud through x-pci-proxy-dev; %s\n", context_line().c_str());
  const auto files = find_vm_files();
  if (!files) return;
  const VmFiles& f = *files;
  const int cpus = static_cast<int>(std::thread::hardware_concurrency());
  VmRig rig;
  OtherLoad load;
  std::vector<TrapRow> rows;
  const std::regex line(R"(bench-mmio: \d+ reads ([0-9.]+) us/access, \d+ writes ([0-9.]+) us/access)");
  std::vector<std::pair<std::string, double>> per_frame;
  for (int cpu : {0, -1}) {
    // vgpud's threads (this process) and QEMU's on CPU 0, or wherever the scheduler puts them.
    pin_self(cpu);
    for (const char* w : {"desktop", "video"}) {
      rig.wait_detached();
      VmRun vm(f, rig.path, fmt::format("vgpu.workload={} vgpu.bench-mmio={} vgpu.frames=120 vgpu.then=hold", w, kAccesses), cpu);
      const std::string s = vm.wait_for("vgpu-guest: frame 60");
      const uint64_t t60 = rig.traps();
      vm.wait_for("holding frame 120");
      const uint64_t t120 = rig.traps();
      std::smatch m;
      if (std::string(w) == "desktop") {
        if (!std::regex_search(s, m, line)) die("no bench-mmio line in the VM's console:\n" + s);
        rows.push_back({cpu == 0 ? "VM guest, QEMU + vgpud on CPU 0" : "VM guest, any CPU", std::stod(m[1]), std::stod(m[2])});
      }
      if (cpu == -1) per_frame.emplace_back(w, static_cast<double>(t120 - t60) / 60.0);
    }
  }
  for (int cpu : {0, -1}) {
    pin_self(cpu);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    MinimalRemote floor(sv[0]);
    VmRun vm(f, rig.path, fmt::format("vgpu.bench-mmio={}", kAccesses), cpu, sv[1]);
    ::close(sv[1]);  // QEMU has it
    const std::string s = vm.wait_for("vgpu-guest: bench-mmio");
    std::smatch m;
    const std::string tail = s.substr(s.find("bench-mmio:"));
    if (!std::regex_search(tail, m, line)) die("no bench-mmio line in the VM's console:\n" + s);
    rows.push_back({cpu == 0 ? "  floor: a minimal remote (no device), on CPU 0" : "  floor: a minimal remote (no device), any CPU",
                    std::stod(m[1]), std::stod(m[2])});
  }
  pin_self(-1);
  rig.wait_detached();
  const Dist flip = flip_to_event(rig, f);
  const double inproc = inprocess_us(rig, 1'000'000);
  const double same = socket_round_trip_us(0, 0, 100'000);
  const double cross = cpus > 1 ? socket_round_trip_us(0, 1, 100'000) : 0;
  const double noise = load.pct();

  std::printf("%-52s %12s %12s\n", "trapped access (plain register, 4 bytes)", "read us", "write us");
  for (const auto& r : rows) std::printf("%-52s %12.2f %12.2f\n", r.name.c_str(), r.read_us, r.write_us);
  std::printf("%-52s %12.3f %12s\n", "  baseline: in-process dispatch (Vgpu::read)", inproc, "");
  std::printf("%-52s %12.2f %12s\n", "  baseline: socket round trip, 2 processes, 1 CPU", same, "");
  if (cpus > 1) std::printf("%-52s %12.2f %12s\n", "  baseline: socket round trip, 2 processes, 2 CPUs", cross, "");
  for (const auto& [w, n] : per_frame) std::printf("traps per %s frame (60 frames, any CPU): %.1f\n", w.c_str(), n);
  std::printf("guest flip -> consumer eventfd read (desktop in a VM, %zu flips): p50 %.0f us, p99 %.0f us, max %.0f us\n"
              "   (a synchronous flip waits for the next vblank: up to one 16.7 ms period by design)\n",
              flip.n, flip.p50, flip.p99, flip.max);
  std::printf("   other processes, QEMU included: %.0f %% of a core\n", noise);

  std::vector<std::string> jrows, jframes;
  for (const auto& r : rows) jrows.push_back(JObj().str("name", r.name).num("read_us", r.read_us).num("write_us", r.write_us).dump());
  for (const auto& [w, n] : per_frame) jframes.push_back(JObj().str("workload", w).num("traps_per_frame", n).dump());
  write_file(o.out + "/daemon-vm.json",
             JObj()
                 .str("benchmark", "vm")
                 .add("context", context_json())
                 .add("traps", jlist(jrows))
                 .num("inprocess_us", inproc)
                 .num("socket_round_trip_1cpu_us", same)
                 .num("socket_round_trip_2cpu_us", cross)
                 .add("traps_per_frame", jlist(jframes))
                 .add("flip_to_event", dist_json(flip))
                 .num("other_load_pct", noise)
                 .dump() + "\n");
}

}  // namespace vgd::daemon_bench
