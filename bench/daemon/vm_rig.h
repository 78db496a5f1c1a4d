// What the parts that boot real QEMU VMs share (vm.cpp, vm_drm.cpp): the files a VM needs, vgpud
// in this process with one vGPU waiting for a VM (VmRig), and one VM with its serial console
// (VmRun), optionally a shell on it (the image's vgpu.shell=1, docs/vm.md).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <functional>
#include <thread>
#include <vector>

#include "server/host.h"
#include "server/server.h"
#include "vm_peers.h"

namespace vgd::test {
class SerialShell;
}

namespace vgd::daemon_bench {

struct VmFiles {
  std::string qemu, kernel, initrd, vgpuctl;
};
// QEMU and the guest image, or nothing (and a "skipped" line printed) when either is missing.
std::optional<VmFiles> find_vm_files();

std::string slurp(const std::string& p);

// Every thread of this process (the server's, the vblank threads, each VM's session thread and
// those they start later) on `cpu`, or on any CPU for -1.
void pin_self(int cpu);

// vgpud in this process with one vGPU (damage hints offered or not) waiting for a VM.
struct VmRig {
  std::unique_ptr<server::Host> host;
  std::unique_ptr<server::Server> srv;
  std::thread loop;
  std::string path;

  explicit VmRig(bool damage_hints = true);
  ~VmRig();
  VmRig(const VmRig&) = delete;
  VmRig& operator=(const VmRig&) = delete;

  // The previous VM's detach is seen on its session's thread: wait for it before the next.
  void wait_detached();
  uint64_t traps();  // the host's MMIO counters, every block, reads and writes
};

struct VmRunOptions {
  int cpu = -1;         // where QEMU runs, -1: anywhere
  int device_fd = -1;   // >= 0: QEMU itself with the proxy device on it, else `vgpuctl qemu`
  bool shell = false;   // the serial console also on a socket this process types at (shell())
};

// One VM; its serial console read until a text shows up.
class VmRun {
 public:
  VmRun(const VmFiles& f, const std::string& socket, const std::string& append, const VmRunOptions& o);
  VmRun(const VmFiles& f, const std::string& socket, const std::string& append, int cpu, int device_fd = -1)
      : VmRun(f, socket, append, VmRunOptions{cpu, device_fd, false}) {}
  ~VmRun();
  VmRun(const VmRun&) = delete;
  VmRun& operator=(const VmRun&) = delete;

  std::string wait_for(const std::string& text, std::chrono::seconds limit = std::chrono::seconds(300));
  test::SerialShell& shell() { return *shell_; }

 private:
  static inline int counter_ = 0;
  std::string serial_;
  pid_t pid_ = -1;
  std::unique_ptr<test::SerialShell> shell_;
};

// A VM whose proxy socket goes through a FlipSpy (QEMU itself, not vgpuctl), with a consumer
// thread noting when it reads the vGPU's refresh events; `body` runs while the VM does.
struct SpiedRun {
  std::vector<int64_t> flips;                 // pipe A primary PLANE_SURF writes (relay)
  std::vector<FlipSpy::Access> accesses;      // every BAR access (relay)
  std::vector<int64_t> wakes, sprite_wakes;   // event reads with a primary / a sprite refresh
};
SpiedRun spied_run(VmRig& rig, const VmFiles& f, const std::string& append, bool shell,
                   const std::function<void(VmRun&)>& body);

// Each wake paired with the newest flip before it that no earlier wake took: wake - flip, ns.
std::vector<int64_t> flip_to_wake(const std::vector<int64_t>& flips, const std::vector<int64_t>& wakes);

}  // namespace vgd::daemon_bench
