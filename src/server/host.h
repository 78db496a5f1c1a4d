// What vgpud hosts: the GPU, its vGPUs, and for each a guest VM running a workload on its own
// thread. Each vGPU is serialised on its own lock (docs/design.md, "Ownership"): a trap, vblank
// or consumer request on one vGPU never waits for another. A vblank thread per CPU runs its own
// clock, which drives a share of the vGPUs, and posts each due vblank to its vGPU's lock without
// waiting for it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/daemon_config.h"
#include "display/interrupts.h"
#include "display/vblank_clock.h"
#include "proto/wire.h"
#include "directflip/pipe_link.h"
#include "server/consumer_port.h"
#include "server/display_links.h"
#include "server/status.h"
#include "server/vm_link.h"
#include "sim/guest_session.h"
#include "util/expected.h"
#include "util/histogram.h"
#include "util/thread_annotations.h"
#include "util/work_lock.h"
#include "vgpu/gpu.h"

namespace vgd::server {

// A halted vCPU: sleeps until its vGPU raises an interrupt (or 50 ms pass, so a stopping daemon
// is never kept waiting on a guest).
class InterruptIdle final : public guest::IdlePort {
 public:
  InterruptIdle(UniqueFd msi, const std::atomic<bool>& abandon) : msi_(std::move(msi)), abandon_(&abandon) {}
  void idle() override;

 private:
  UniqueFd msi_;
  const std::atomic<bool>* abandon_;  // the daemon stops and no vblank will come
};

// One hosted vGPU: its lock and everything the lock guards, its consumers' port, its guest: a
// builtin one on a thread, or a QEMU VM attached through a VmLink. Members are declared in
// teardown order reversed: the guest and the port go before the lock and the vGPU they use.
class HostedVgpu {
 public:
  // Attaches to `v` (owned by the GPU, which outlives this): its interrupt line, its vblank
  // ticks, its listeners.
  HostedVgpu(Vgpu& v, const VgpuSpec& spec, const exporter::ExporterOptions& ex, const display::VblankClock& clock,
             const GpuGeometry& geometry, const std::atomic<bool>& abandon, std::vector<HostedVgpu*>& due);
  ~HostedVgpu();
  HostedVgpu(const HostedVgpu&) = delete;
  HostedVgpu& operator=(const HostedVgpu&) = delete;

  uint32_t id() const { return id_; }
  const VgpuSpec& spec() const { return spec_; }
  WorkLock& lock() RETURN_CAPABILITY(lock_) { return lock_; }
  Vgpu& vgpu() REQUIRES(lock_) { return *vgpu_; }
  const Vgpu& vgpu() const REQUIRES(lock_) { return *vgpu_; }
  ConsumerPort& port() { return port_; }  // locks for itself
  bool builtin() const { return session_ != nullptr; }
  GuestSession& session() { return *session_; }  // builtin guests only
  const display::VblankClock* clock() const { return clock_; }  // the one driving its vblanks
  std::thread& thread() { return thread_; }

  // The vblank thread, after its dispatch queued this vGPU on `due`: runs the vblank now if the
  // lock is free, else leaves it to the lock's holder. Never waits.
  void post_due() { lock_.post(); }

  // For a vGPU whose guest is a QEMU VM: a new socket pair, one end served as the device, the
  // other returned for QEMU (docs/protocol.md §3.8). Refused while a VM is attached.
  struct AttachError {
    proto::Status status;
    std::string message;
  };
  Expected<UniqueFd, AttachError> attach_vm() EXCLUDES(vm_mu_, lock_, vm_info_mu_);
  bool vm_attached() const { return vm_attached_.load(std::memory_order_acquire); }

  // Its pipe on a host output (docs/direct-flip.md): set and ended by `links`, used by the event
  // thread, all under lock_. Null: none. Setting null destroys the link (planes off). When the
  // vGPU's RAM is replaced (a VM leaves or comes, or sends a new map) a link that has read the
  // old RAM is made anew on the same output and planes (renew_link).
  directflip::PipeLink* link() REQUIRES(lock_) { return link_.get(); }
  void set_link(std::unique_ptr<directflip::PipeLink> link, std::string output, DisplayLinks* links) REQUIRES(lock_);

  // The protocol's view of the vGPU (List).
  proto::VgpuEntry describe() const REQUIRES(lock_);
  // The newest published status (no fps): what the dashboard and /metrics read, without the lock.
  VgpuStatus published() const EXCLUDES(published_mu_);
  // Publishes now when `min_age_ns` passed since the last time (0: now).
  void publish(uint64_t now_ns, uint64_t min_age_ns) REQUIRES(lock_);
  // Asks for a publish from whoever holds the lock next (the vblank thread for displays that are
  // off, whose vGPU has no vblanks to publish at).
  void request_publish() {
    publish_wanted_.store(true, std::memory_order_release);
    lock_.post();
  }

 private:
  // The clock's tick, on the vblank thread inside its dispatch: remembers the deadline.
  void on_tick(uint64_t deadline_ns);
  void run_posted() REQUIRES(lock_);  // the lock's job: a due vblank, a wanted publish
  VgpuStatus read_status() const REQUIRES(lock_);
  std::optional<VmStatus> vm_status() const EXCLUDES(vm_info_mu_);
  void vm_detached(const remote::Detach& d) EXCLUDES(vm_info_mu_);  // on the session's thread
  // The vGPU's RAM was replaced (the port's RAM follower, inside Vgpu::replace_ram): the link's
  // cached imports and views of the old RAM would keep it mapped (a VM that left keeps its
  // memory) and, should a new RAM land where the old one was, could show its stale pages. The
  // link is destroyed (planes off) and made again on the same planes: the assignment stays.
  void renew_link() REQUIRES(lock_);
  // For whoever guards its uses with lock_ itself (a VmLink takes it before every access).
  Vgpu& vgpu_for_lock_holders() const NO_THREAD_SAFETY_ANALYSIS { return *vgpu_; }
  PortCounters port_counters() const REQUIRES(lock_);

  const uint32_t id_;
  const VgpuSpec spec_;
  const display::VblankClock* const clock_;
  Vgpu* const vgpu_ PT_GUARDED_BY(lock_);
  WorkLock lock_;
  display::EventfdSink msi_;  // the guest's interrupt line
  ConsumerPort port_;
  std::unique_ptr<InterruptIdle> idle_;
  std::unique_ptr<GuestSession> session_;  // runs on thread_; Host joins it before destruction
  std::thread thread_;
  std::atomic<bool> vm_attached_{false};
  // How VMs came and went, for the published status (a leaf, like published_mu_).
  mutable Mutex vm_info_mu_;
  uint64_t vm_attaches_ GUARDED_BY(vm_info_mu_) = 0;
  std::array<uint64_t, remote::kDetachReasonCount> vm_detaches_ GUARDED_BY(vm_info_mu_){};
  std::string vm_last_detach_ GUARDED_BY(vm_info_mu_);

  std::atomic<uint64_t> due_ns_{0};          // deadline of a vblank posted and not yet run
  std::atomic<bool> publish_wanted_{false};
  std::atomic<uint64_t> late_{0};            // vblanks that were still pending at the next tick
  Histogram dispatch_delay_ GUARDED_BY(lock_) = dispatch_histogram();  // deadline -> vblank emulated
  uint64_t published_ns_ GUARDED_BY(lock_) = 0;
  mutable Mutex published_mu_;  // a leaf: never held while taking another lock
  VgpuStatus published_ GUARDED_BY(published_mu_);
  // After the vGPU and lock_ it uses, so destroyed before them (~HostedVgpu ends it first anyway).
  std::unique_ptr<directflip::PipeLink> link_ GUARDED_BY(lock_);
  std::string link_output_ GUARDED_BY(lock_);
  DisplayLinks* link_owner_ GUARDED_BY(lock_) = nullptr;  // the display the link commits to
  // Last, so destroyed first: the link's session thread, as it ends, uses everything above.
  // Lock order: vm_mu_, then lock_ (a VmLink takes the vGPU's lock as it starts and ends).
  mutable Mutex vm_mu_;
  // The VM's link; once detached it stays (a finished thread, its stop eventfd) until the next
  // VM attaches or the vGPU goes: one per vGPU at most.
  std::unique_ptr<VmLink> vm_ GUARDED_BY(vm_mu_);
};

class Host {
 public:
  // Creates the GPU and every configured vGPU (guests not yet running, vblanks running).
  static Expected<std::unique_ptr<Host>, std::string> create(const DaemonConfig& cfg);
  ~Host();  // stops the guests, then the vblank thread
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  void start_guests();
  // Guests finish their current frame (the vblank thread keeps ticking meanwhile) and stop.
  void stop_guests();

  HostedVgpu* find(uint32_t id);
  // The host display guest pipes can be put on; null without one (no direct flip).
  DisplayLinks* links() { return links_.get(); }
  const DisplayLinks* links() const { return links_.get(); }
  const std::vector<std::unique_ptr<HostedVgpu>>& vgpus() const { return hosted_; }
  const Gpu& gpu() const { return *gpu_; }
  // The vblank threads, for CPU accounting.
  std::vector<std::thread*> vblank_threads();

 private:
  // One vblank thread: its clock drives the vGPUs the GPU gave it (each stays on one), so the
  // vGPUs whose deadlines fall together are emulated on several CPUs at once.
  struct VblankLane {
    std::unique_ptr<display::RealClock> clock;
    std::vector<HostedVgpu*> due;  // its thread's: ticked by the last dispatch
    std::thread thread;
  };

  Host() = default;
  VblankLane& lane_of(const Vgpu& v);
  void vblank_loop(VblankLane& lane);

  // Declaration order is teardown order reversed: the host display outlives everything (the
  // destructor ends its links first), the clocks outlive the GPU (its vGPUs leave them), the GPU
  // outlives the hosted vGPUs (they detach from their Vgpu).
  std::unique_ptr<DisplayLinks> links_;
  std::vector<std::unique_ptr<VblankLane>> lanes_;
  std::unique_ptr<Gpu> gpu_;
  std::vector<std::unique_ptr<HostedVgpu>> hosted_;
  UniqueFd wake_;  // ends the vblank threads
  std::atomic<bool> stopping_{false};  // guests stop after their current frame
  std::atomic<bool> abandon_{false};   // ... and stop waiting for vblanks
  std::atomic<int> running_{0};
};

}  // namespace vgd::server
