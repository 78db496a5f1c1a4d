// What vgpud hosts: the GPU, its vGPUs, and for each a guest VM running a workload on its own
// thread, with the vGPU's exporter and refresh events. One mutex serialises everything that
// touches device state — every trapped guest access, every vblank, every consumer request —
// like GVT-g's gvt->lock; guests render into their own RAM without it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/daemon_config.h"
#include "decode/plane_cache.h"
#include "display/interrupts.h"
#include "display/vblank_clock.h"
#include "events/vgpu_events.h"
#include "exporter/exporter.h"
#include "exporter/tearing.h"
#include "proto/wire.h"
#include "sim/guest_session.h"
#include "util/expected.h"
#include "util/histogram.h"
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

struct HostedVgpu {
  Vgpu* vgpu = nullptr;
  VgpuSpec spec;
  std::unique_ptr<exporter::Exporter> exporter;
  std::unique_ptr<events::VgpuEvents> events;
  decode::PlaneCache planes;  // what QueryPlane decodes
  // Tearing control, per spec.tearing: at most one of them.
  std::unique_ptr<exporter::HoldGate> hold;       // hold: the vGPU's flip-done gate
  std::unique_ptr<exporter::ShadowFrames> shadows;  // copy: what primary queries and buffers serve
  std::unique_ptr<display::EventfdSink> msi;  // the guest's interrupt line
  std::unique_ptr<InterruptIdle> idle;
  std::unique_ptr<GuestSession> session;
  std::thread thread;
  // From each clock vblank's deadline to the moment it is emulated: how late the host runs this
  // vGPU's vblanks. Filled where its vblanks run (its latch listener), under their lock.
  Histogram vblank_dispatch = dispatch_histogram();

  // Finer than event latency's buckets at the low end: a timer wake-up takes tens of µs.
  static Histogram dispatch_histogram();
  // Both halves; with the host's lock held.
  exporter::TearingCounters tearing() const;
};

class Host {
 public:
  // Creates the GPU and every configured vGPU (guests not yet running).
  static Expected<std::unique_ptr<Host>, std::string> create(const DaemonConfig& cfg);
  ~Host();  // stops the guests
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  void start_guests();
  // Call without lock(): it dispatches vblanks itself while the guests wind down.
  void stop_guests();

  std::mutex& lock() { return mu_; }
  // Readable when a vblank is due; then call dispatch_vblanks().
  int clock_fd() const { return clock_->fd(); }

  // Everything below: with lock() held.
  void dispatch_vblanks() { clock_->dispatch(); }
  HostedVgpu* find(uint32_t id);
  const std::vector<std::unique_ptr<HostedVgpu>>& vgpus() const { return hosted_; }
  proto::VgpuEntry describe(const HostedVgpu& h) const;
  const Gpu& gpu() const { return *gpu_; }

 private:
  Host() = default;

  std::mutex mu_;
  std::unique_ptr<display::RealClock> clock_;  // outlives the GPU: its vGPUs leave it on destroy
  std::unique_ptr<Gpu> gpu_;
  std::vector<std::unique_ptr<HostedVgpu>> hosted_;
  std::atomic<bool> stopping_{false};  // guests stop after their current frame
  std::atomic<bool> abandon_{false};   // ... and stop waiting for vblanks
  std::atomic<int> running_{0};
};

}  // namespace vgd::server
