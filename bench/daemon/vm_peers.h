// The other ends of a VM's proxy socket that the vm part puts beside vgpud (vm.cpp): the
// transport's floor, and a relay that notes the guest's flips on their way to vgpud.
#pragma once

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace vgd::daemon_bench {

// The floor of serving a device over x-pci-proxy-dev: a blocking loop that answers each message
// (config space through remote::PciFunction, every BAR read 0) with no device model, no poll and
// no lock. Beside vgpud it shows what our session and device add to QEMU's own costs.
class MinimalRemote {
 public:
  explicit MinimalRemote(int fd) : fd_(fd), thread_([this] { loop(); }) {}
  ~MinimalRemote();
  MinimalRemote(const MinimalRemote&) = delete;
  MinimalRemote& operator=(const MinimalRemote&) = delete;

 private:
  void loop();
  int fd_;
  std::thread thread_;
};

// Forwards every byte and descriptor between QEMU (qemu_fd) and vgpud (vgpud_fd) unchanged, and
// notes the time of each guest write to pipe A's primary surface register: a flip, as the guest
// makes it, and every BAR access with its register. Costs one more hop per trap; what it measures
// is dominated by the wait for vblank.
class FlipSpy {
 public:
  FlipSpy(int qemu_fd, int vgpud_fd) : qemu_(qemu_fd), vgpud_(vgpud_fd), thread_([this] { loop(); }) {}
  ~FlipSpy();
  FlipSpy(const FlipSpy&) = delete;
  FlipSpy& operator=(const FlipSpy&) = delete;
  std::vector<int64_t> flips() const;  // CLOCK_MONOTONIC ns, in order
  struct Access {
    int64_t ns;
    uint32_t offset;  // in BAR0
    bool write;
  };
  std::vector<Access> accesses() const;  // in order

 private:
  void loop();
  bool forward_request();  // one whole message QEMU -> vgpud
  int qemu_, vgpud_;
  mutable std::mutex mu_;
  std::vector<int64_t> flips_;
  std::vector<Access> accesses_;
  std::thread thread_;
};

}  // namespace vgd::daemon_bench
