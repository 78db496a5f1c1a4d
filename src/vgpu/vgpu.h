// One vGPU: a device model behind a single MMIO entry point. Owns its register file, its part of
// the GGTT and its devices; holds its VM's RAM. Created and destroyed by Gpu, which owns the
// shared resources (partition, host fence registers) and outlives it; the vGPU reaches them only
// through GpuLink. Not thread-safe: its owner serialises every call (the daemon: one lock per
// vGPU, docs/design.md "Ownership"), and vGPUs of one GPU may run on different threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "display/display_engine.h"
#include "display/interrupts.h"
#include "memory/ggtt_view.h"
#include "memory/guest_ram.h"
#include "memory/partition.h"
#include "mmio/bus.h"
#include "mmio/vreg_file.h"
#include "mmio/device_context.h"
#include "vgpu/fence_device.h"
#include "vgpu/ggtt_device.h"
#include "vgpu/pvinfo_device.h"
#include "vgpu/types.h"

namespace vgd {
namespace display {
class VblankClock;
}

class Gpu;

// What a vGPU uses of its GPU. Implemented by Gpu; called from whichever thread runs the vGPU,
// so every part of it is safe to call from several vGPUs' threads at once.
class GpuLink {
 public:
  virtual std::span<uint64_t> host_fences() = 0;  // the host fence file; each vGPU its own slots
  virtual void emit(const MgmtEvent& e) = 0;

 protected:
  ~GpuLink() = default;
};

// Only Gpu constructs vGPUs (a capability token instead of friendship).
class GpuKey {
  friend class Gpu;
  GpuKey() = default;
};

// A second pair of ears on the display, besides the server's listeners (which refresh events and
// tearing control already use): the direct-flip engine (docs/direct-flip.md, The engine). Runs
// under whatever serialises the vGPU, after the latch listener and before the vblank listener.
class DisplayObserver {
 public:
  virtual void on_vblank(const display::VblankReport& r) = 0;
  virtual void on_pipe_state(hw::Pipe p, bool active) = 0;
  // An async flip of plane pl of pipe p, as the guest makes it (its flip-done already raised);
  // the next vblank's report lists it too.
  virtual void on_async_flip(hw::Pipe, hw::Plane) {}

 protected:
  ~DisplayObserver() = default;
};

class Vgpu final : private DeviceContext, private display::VblankControl {
 public:
  Vgpu(const Vgpu&) = delete;
  Vgpu& operator=(const Vgpu&) = delete;
  ~Vgpu();

  uint32_t id() const override { return id_; }
  const VgpuType& type() const { return type_; }
  const VgpuResources& resources() const { return res_; }

  // The trap entry point.
  AccessStatus read(MmioOffset off, unsigned size, uint64_t& value) { return bus_.read(off, size, value); }
  AccessStatus write(MmioOffset off, unsigned size, uint64_t value) { return bus_.write(off, size, value); }

  // Device-model reset: registers, GGTT entries and fences cleared, PVINFO repopulated,
  // failsafe and PV-awareness forgotten.
  void reset();
  uint64_t resets() const { return resets_; }  // device-model resets since creation
  // Damage hints offered in vgt_caps (docs/hardware.md, Damage hints); by default they are.
  // Takes effect at once, as after a reset of PVINFO's host half: call before the guest runs.
  void offer_damage_hints(bool on);

  bool failsafe() const { return failsafe_.has_value(); }
  std::optional<FailsafeReason> failsafe_reason() const { return failsafe_; }
  bool pv_aware() const override { return pv_aware_; }
  uint32_t display_ready() const;

  const VgpuCounters& counters() const { return counters_; }
  const MmioStats& mmio_stats() const { return bus_.stats(); }
  // The attacks this vGPU's bus and devices refused (docs/guest-attacks.md); the plane decoder's
  // are its consumers' (decode::PlaneCache::attacks).
  AttackCounts attacks() const { return counters_.attacks + bus_.stats().attacks; }
  uint64_t mmio_bar_size() const { return bus_.bar_size(); }  // BAR0: registers, PVINFO, GGTT
  const GgttView& ggtt() const { return ggtt_; }
  const GuestRam& ram() const { return *ram_; }
  const std::shared_ptr<GuestRam>& ram_ref() const { return ram_; }
  // The VM's RAM from now on (a VM's transport sent a new map; nullptr: GuestRam::none()).
  // When the layout differs (GuestRam::same_layout) the GGTT's host view is translated again
  // and its generation moves on; the RAM listener hears of it either way. Whoever still holds
  // the old RAM keeps it. Answers whether the layout changed.
  bool replace_ram(std::shared_ptr<GuestRam> ram);
  // Called by replace_ram() once the vGPU uses the new RAM: `layout_changed` says whether any
  // translation changed (page lists decoded before describe other bytes now).
  using RamListener = std::function<void(Vgpu&, bool layout_changed)>;
  void set_ram_listener(RamListener l) { ram_listener_ = std::move(l); }
  const VregFile& vregs() const { return vregs_; }

  // Display: the engine, where its interrupts go, and who hears about each vblank.
  const display::DisplayEngine& display() const { return display_; }
  uint64_t interrupts_raised() const { return irq_.raised(); }
  void set_interrupt_sink(display::InterruptSink* sink) { irq_.set_sink(sink); }
  using VblankListener = std::function<void(Vgpu&, const display::VblankReport&)>;
  void set_vblank_listener(VblankListener l) { vblank_listener_ = std::move(l); }
  // Called when a pipe turns on or off: guest PIPECONF writes, failsafe and reset. The off edge
  // comes even though no vblank follows it.
  using PipeStateListener = std::function<void(Vgpu&, hw::Pipe, bool active)>;
  void set_pipe_state_listener(PipeStateListener l) { pipe_state_listener_ = std::move(l); }
  // Hears each vblank before the vblank listener: tearing control ("copy") takes the new front
  // buffer before consumers are told it changed.
  void set_latch_listener(VblankListener l) { latch_listener_ = std::move(l); }
  // One observer slot (nullptr: none); the observer must outlive its registration.
  void set_display_observer(DisplayObserver* o) { observer_ = o; }
  DisplayObserver* display_observer() const { return observer_; }
  // Flip-done gates (tearing control's "hold", direct flip): see DisplayEngine::add_flip_done_gate
  // and retry_held. The gate must outlive its registration.
  void add_flip_done_gate(display::FlipDoneGate* gate, uint32_t max_hold_vblanks) {
    display_.add_flip_done_gate(gate, max_hold_vblanks);
  }
  void remove_flip_done_gate(display::FlipDoneGate* gate) { display_.remove_flip_done_gate(gate); }
  void retry_held_flips() { display_.retry_held(); }
  // One emulated vblank. Without a tick handler the GPU's clock calls it at the rate the guest
  // programmed; by hand it has no nominal time.
  display::VblankReport vblank() { return vblank_at(0); }
  // The same for the vblank due at `nominal_ns` (the clock's deadline for it).
  display::VblankReport vblank_at(uint64_t nominal_ns);
  // Replaces the direct call: the clock calls `h(deadline)` instead, from its dispatching thread,
  // and whoever serialises this vGPU then calls vblank_at(deadline).
  using TickHandler = std::function<void(uint64_t deadline_ns)>;
  void set_tick_handler(TickHandler h) { tick_handler_ = std::move(h); }
  // CLOCK_MONOTONIC-based nominal time of the last vblank the clock fired (its deadline, not
  // when it was dispatched); 0 before the first or when vblank() is called by hand.
  uint64_t last_vblank_ns() const { return last_vblank_ns_; }
  // The clock that drives this vGPU's vblanks (fixed at creation); nullptr: vblanks only by hand.
  display::VblankClock* vblank_clock() const { return clock_; }
  // The clock's count of vblanks this vGPU slept through because they were dispatched late.
  uint64_t missed_vblanks() const;
  // When the clock's next vblank of this vGPU is due; 0 when none is (no clock, or no pipe on).
  uint64_t next_vblank_ns() const;
  // One clock with a host display (docs/direct-flip.md, One clock): from now on the vblank timer
  // ticks every `period_ns` on phase_ns + k·period (VblankClock::align), whatever rate the guest
  // programs; a mode change, or the pipe going off and on, keeps the lock (the timer still stops
  // while no pipe is on). Called again, it re-phases.
  void lock_vblank(uint64_t period_ns, uint64_t phase_ns);
  // Back to the guest's own programmed rate, phased from now.
  void unlock_vblank();
  bool vblank_locked() const { return lock_period_ns_ != 0; }

  Vgpu(GpuKey, GpuLink& gpu, display::VblankClock* clock, uint64_t ggtt_size, uint32_t id, VgpuType type,
       VgpuResources res, std::shared_ptr<GuestRam> ram, VregFile vregs, GgttView ggtt);

  VgpuCounters& tally() override { return counters_; }
  void mark_pv_aware() override { pv_aware_ = true; }
  void enter_failsafe(FailsafeReason r) override;
  void emit(const MgmtEvent& e) override;
  void set_vblank_period(uint64_t period_ns) override;

  void on_tick();

  GpuLink* gpu_;
  display::VblankClock* clock_;
  uint32_t id_;
  VgpuType type_;
  VgpuResources res_;
  std::shared_ptr<GuestRam> ram_;
  VregFile vregs_;
  GgttView ggtt_;
  MmioBus bus_;
  PvinfoDevice pvinfo_;
  FenceDevice fences_;
  GgttDevice gtt_;
  display::DeInterrupts irq_;
  display::DisplayEngine display_;
  display::MmioFlipPort flip_port_;
  uint64_t vblank_timer_ = 0;  // id on the GPU's vblank clock, 0 = none
  uint64_t last_vblank_ns_ = 0;
  uint64_t own_period_ns_ = 0;                      // what the guest programmed, 0 = off
  uint64_t lock_period_ns_ = 0, lock_phase_ns_ = 0;  // a host's grid while locked (period > 0)
  TickHandler tick_handler_;
  VblankListener latch_listener_;
  VblankListener vblank_listener_;
  PipeStateListener pipe_state_listener_;
  DisplayObserver* observer_ = nullptr;
  RamListener ram_listener_;
  VgpuCounters counters_;
  std::optional<FailsafeReason> failsafe_;
  bool pv_aware_ = false;
  uint64_t resets_ = 0;
};

}  // namespace vgd
