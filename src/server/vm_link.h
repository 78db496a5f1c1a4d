// A QEMU VM attached to a hosted vGPU (docs/vm.md): the x-pci-proxy-dev session on a thread of
// its own, and the device it drives. The VM's traps take the vGPU's lock like any other access
// (a busy VM delays only its own vGPU); its RAM map becomes the vGPU's GuestRam; the vGPU's
// interrupts become the level of its INTx line.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "display/interrupts.h"
#include "remote/endpoint.h"
#include "remote/intx_line.h"
#include "remote/proxy_session.h"
#include "util/thread_annotations.h"
#include "util/unique_fd.h"
#include "util/work_lock.h"
#include "vgpu/vgpu.h"

namespace vgd::server {

class VmLink final : private remote::Endpoint, private display::InterruptSink {
 public:
  // Called once, on the session's thread, after the VM went and the vGPU was reset to no RAM.
  using Detached = std::function<void(const remote::Detach&)>;
  // Takes v's interrupt line until destroyed and serves `socket` (QEMU's end is the other).
  VmLink(WorkLock& lock, Vgpu& v, UniqueFd socket, std::string name, Detached detached);
  ~VmLink();  // ends the session (the vGPU is reset as for a VM that left) and joins its thread
  VmLink(const VmLink&) = delete;
  VmLink& operator=(const VmLink&) = delete;

  bool attached() const { return attached_.load(std::memory_order_acquire); }

 private:
  uint64_t bar0_read(MmioOffset offset, uint32_t size) override;
  void bar0_write(MmioOffset offset, uint32_t size, uint64_t value) override;
  void set_guest_ram(std::vector<remote::RamSection> sections) override;
  void reset() override;
  void raise() override {}  // INTx is a level: set_level says it all
  void set_level(bool high) override { intx_.set_level(high); }
  void on_detach(const remote::Detach& d);

  WorkLock& lock_;
  Vgpu* const vgpu_ PT_GUARDED_BY(lock_);
  const std::string name_;
  Detached detached_;
  remote::IntxLine intx_;
  std::atomic<bool> attached_{true};
  std::string last_ram_error_;  // only the session's thread sets RAM
  std::unique_ptr<remote::ProxySession> session_;  // last: its thread uses everything above
};

}  // namespace vgd::server
