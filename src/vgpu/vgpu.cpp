#include "vgpu/vgpu.h"

#include <spdlog/spdlog.h>

#include "hw/bar.h"
#include "hw/blocks.h"
#include "hw/pvinfo.h"
#include "display/vblank_clock.h"
#include "vgpu/gpu.h"

namespace vgd {

Vgpu::Vgpu(GpuKey, GpuLink& gpu, display::VblankClock* clock, uint64_t ggtt_size, uint32_t id, VgpuType type,
           VgpuResources res, std::shared_ptr<GuestRam> ram, VregFile vregs, GgttView ggtt)
    : gpu_(&gpu),
      clock_(clock),
      id_(id),
      type_(std::move(type)),
      res_(std::move(res)),
      ram_(std::move(ram)),
      vregs_(std::move(vregs)),
      ggtt_(std::move(ggtt)),
      bus_(hw::bar0_size(ggtt_size), vregs_, id),
      pvinfo_(*this, vregs_),
      fences_(*this, vregs_, gpu.host_fences(), res_.fences),
      gtt_(*this, ggtt_, *ram_),
      irq_(vregs_, *this),
      display_(vregs_, irq_, *this, *this, display::ModeLimits{type_.max_width, type_.max_height}),
      flip_port_(vregs_, display_) {
  // The bus rejects only overlapping or out-of-BAR ranges; these are fixed and disjoint.
  bool ok = bus_.add(hw::kPvinfoBlock, pvinfo_) && bus_.add(hw::kFenceBlock, fences_) &&
            bus_.add(MmioOffset(hw::kGttOffset), bus_.bar_size() - hw::kGttOffset, gtt_) &&
            bus_.add(hw::kDeInterruptBlock, irq_) && bus_.add(hw::kDisplayEngineBlock, display_) &&
            bus_.add(hw::kMmioFlipBlock, flip_port_);
  if (!ok) spdlog::critical("vgpu {}: fixed MMIO layout rejected by the bus", id_);
  pvinfo_.attach(display_);
  pvinfo_.populate(res_);
  display_.set_pipe_state_listener([this](hw::Pipe p, bool on) {
    if (pipe_state_listener_) pipe_state_listener_(*this, p, on);
    if (observer_) observer_->on_pipe_state(p, on);
  });
  display_.set_async_flip_listener([this](hw::Pipe p, hw::Plane pl) {
    if (observer_) observer_->on_async_flip(p, pl);
  });
}

Vgpu::~Vgpu() {
  if (vblank_timer_) clock_->remove(vblank_timer_);
  fences_.clear();
}

void Vgpu::reset() {
  vregs_.clear();
  display_.stop_all();
  ggtt_.clear();
  fences_.clear();
  pvinfo_.populate(res_);
  failsafe_.reset();
  pv_aware_ = false;
  bus_.set_muted(hw::RegBlock::Display, false);
  ++resets_;
  spdlog::info("vgpu {}: device-model reset", id_);
}

void Vgpu::offer_damage_hints(bool on) {
  pvinfo_.offer_damage_hints(on);
  const uint32_t caps = vregs_.read32(hw::kPvinfoOffset + hw::pv::kVgtCaps);
  vregs_.write(hw::kPvinfoOffset + hw::pv::kVgtCaps, 4, on ? caps | hw::kCapDamageHints : caps & ~hw::kCapDamageHints);
  if (!on) display_.set_damage_hints(false);
}

bool Vgpu::replace_ram(std::shared_ptr<GuestRam> ram) {
  if (!ram) ram = GuestRam::none();
  const bool changed = !ram_->same_layout(*ram);
  ram_ = std::move(ram);
  gtt_.set_ram(*ram_);
  if (changed) {
    const uint64_t outside = ggtt_.rebind(*ram_);
    spdlog::info("vgpu {}: guest RAM now {} region(s) of {:#x} bytes; {} present GTT entries outside it", id_,
                 ram_->regions().size(), ram_->size(), outside);
  }
  if (ram_listener_) ram_listener_(*this, changed);
  return changed;
}

uint32_t Vgpu::display_ready() const { return vregs_.read32(hw::kPvinfoOffset + hw::pv::kDisplayReady); }

void Vgpu::enter_failsafe(FailsafeReason r) {
  if (failsafe_) return;
  failsafe_ = r;
  // Keep serving the guest, but its display programming no longer drives anything.
  bus_.set_muted(hw::RegBlock::Display, true);
  display_.stop_all();
  spdlog::warn("vgpu {}: failsafe mode: {}; display programming is ignored from now on", id_, describe(r));
  emit(FailsafeEvent{id_, r});
}

void Vgpu::set_vblank_period(uint64_t period_ns) {
  own_period_ns_ = period_ns;
  if (!clock_) return;  // no clock attached: vblanks only when someone calls vblank()
  if (!vblank_timer_) vblank_timer_ = clock_->add([this] { on_tick(); });
  if (!period_ns)
    clock_->stop(vblank_timer_);
  else if (vblank_locked())
    clock_->align(vblank_timer_, lock_period_ns_, lock_phase_ns_);  // on the host's grid still
  else
    clock_->start(vblank_timer_, period_ns);
}

uint64_t Vgpu::next_vblank_ns() const { return clock_ && vblank_timer_ ? clock_->next_tick_ns(vblank_timer_) : 0; }

void Vgpu::lock_vblank(uint64_t period_ns, uint64_t phase_ns) {
  if (!period_ns) return unlock_vblank();
  lock_period_ns_ = period_ns;
  lock_phase_ns_ = phase_ns;
  if (clock_ && vblank_timer_ && own_period_ns_) clock_->align(vblank_timer_, period_ns, phase_ns);
}

void Vgpu::unlock_vblank() {
  if (!vblank_locked()) return;
  lock_period_ns_ = lock_phase_ns_ = 0;
  if (!clock_ || !vblank_timer_ || !own_period_ns_) return;
  clock_->stop(vblank_timer_);  // start() at the same period would keep the host's phase
  clock_->start(vblank_timer_, own_period_ns_);
}

void Vgpu::on_tick() {
  const uint64_t deadline = clock_->tick_ns();
  if (tick_handler_)
    tick_handler_(deadline);
  else
    vblank_at(deadline);
}

uint64_t Vgpu::missed_vblanks() const {
  return clock_ && vblank_timer_ ? clock_->missed(vblank_timer_) : 0;
}

display::VblankReport Vgpu::vblank_at(uint64_t nominal_ns) {
  last_vblank_ns_ = nominal_ns;
  display::VblankReport r = display_.vblank();
  if (latch_listener_) latch_listener_(*this, r);
  if (observer_) observer_->on_vblank(r);
  if (vblank_listener_) vblank_listener_(*this, r);
  return r;
}

void Vgpu::emit(const MgmtEvent& e) { gpu_->emit(e); }

}  // namespace vgd
