#include "display/display_engine.h"

#include <algorithm>

#include "display/refresh.h"
#include "display/vblank_clock.h"
#include "util/guest_error_log.h"

namespace vgd::display {

using namespace hw;

namespace {

// The surface and surface-live registers of a plane.
uint64_t surf_reg(Pipe p, Plane pl) {
  return pl == Plane::Cursor ? cursor::reg(p, cursor::kBase) : plane::reg(p, universal_index(pl), plane::kSurf);
}
uint64_t live_reg(Pipe p, Plane pl) {
  return pl == Plane::Cursor ? cursor::reg(p, cursor::kSurfLive) : plane::reg(p, universal_index(pl), plane::kSurfLive);
}

}  // namespace

bool DisplayEngine::active(Pipe p) const { return pipe::kActive.get(regs_->read32(pipe_reg(p, pipe::kConf))) != 0; }

// The table kept the host's bits; what is left is what a write does.
void DisplayEngine::on_write(const RegWrite& w) {
  const auto p = static_cast<Pipe>(w.instance);
  if (const uint32_t bits = w.tried_to_set(w.row->host))
    log_attack(ctx_->tally().attacks, GuestAttack::DisplayHostBitsWrite, ctx_->id(),
               "pipe {}: {} bits {:#x} are the host's: dropped", letter(p), w.row->name, bits);
  if (w.row->offset == pipe::kConf) return on_pipeconf(p, w.value);
  if (refuses_mode_write(p, w)) return regs_->write32(w.reg, w.old);  // the lit pipe keeps its mode
  if (w.old != w.value) note_plane_write(p, w);
  for (Plane pl : kPlanes) {
    if (w.row->offset != surf_reg(Pipe::A, pl)) continue;
    const uint32_t ctl = regs_->read32(pl == Plane::Cursor ? cursor::reg(p, cursor::kCntr)
                                                            : plane::reg(p, universal_index(pl), plane::kCtl));
    const bool async = pl == Plane::Cursor ? cursor::kAsyncFlip.get(ctl) : plane::kAsyncFlip.get(ctl);
    return flip(p, pl, w.value, async);
  }
}

void DisplayEngine::mmio_flip(Pipe p, Plane pl, uint32_t value) {
  flip(p, pl, value & plane::kSurfAddrMask, mmio_flip::kType.get(value) == mmio_flip::kAsync);
}

void MmioFlipPort::on_write(const RegWrite& w) {
  for (Pipe p : kPipes) {
    if (w.reg == mmio_flip::kPrimary[index(p)]) return engine_->mmio_flip(p, Plane::Primary, w.value);
    if (w.reg == mmio_flip::kSprite[index(p)]) return engine_->mmio_flip(p, Plane::Sprite, w.value);
  }
}

void DisplayEngine::on_pipeconf(Pipe p, uint32_t v) {
  const bool was = active(p), on = pipe::kEnable.get(v) != 0 && (was || may_light(p));
  regs_->write32(pipe_reg(p, pipe::kConf), pipe::kActive.set(v, on ? 1 : 0));
  if (was != on) damage_.whole_pipe(p);
  if (was && !on) {
    // Flips still pending on a stopped pipe take effect without an event, like a disabled plane.
    for (Plane pl : kPlanes)
      if (pending_[index(p)] & plane_bit(pl)) latch(p, pl);
    pending_[index(p)] = 0;
    async_[index(p)] = 0;
    async_count_[index(p)] = {};
    drop_holds(p);  // a stopped pipe raises no flip-done
  }
  retime();
  report_pipe_states();
}

// --- mode limits (docs/design.md "Display") ---

bool DisplayEngine::may_light(Pipe p) {
  const ModeRegs m = mode_regs(*regs_, p);
  if (!mode_fits(p, m)) return false;  // the pipe stays off: the guest sees no state bit
  const uint64_t asked = programmed_refresh_mhz(m);
  if (const uint32_t runs = clamp_refresh_mhz(asked); runs != asked)
    log_attack(ctx_->tally().attacks, GuestAttack::RefreshOutOfRange, ctx_->id(),
                    "pipe {}: timings ask for {}.{:03} Hz, outside {}..{} Hz: vblanks at {} Hz", letter(p),
                    asked / 1000, asked % 1000, kMinRefreshMhz / 1000, kMaxRefreshMhz / 1000, runs / 1000);
  return true;
}

bool DisplayEngine::mode_fits(Pipe p, const ModeRegs& m) {
  const ModeSize s = mode_size(m);
  if (fits(s, limits_)) return true;
  log_attack(ctx_->tally().attacks, GuestAttack::ModeTooLarge, ctx_->id(), "pipe {}: mode {}x{} beyond the vGPU type's {}x{}: refused",
                  letter(p), s.width, s.height, limits_.max_width, limits_.max_height);
  return false;
}

bool DisplayEngine::refuses_mode_write(Pipe p, const RegWrite& w) {
  const uint64_t off = w.row->offset;
  if ((off != trans::kHtotal && off != trans::kVtotal && off != trans::kPipeSrc) || !active(p)) return false;
  return !mode_fits(p, mode_regs(*regs_, p));
}

void DisplayEngine::flip(Pipe p, Plane pl, uint32_t surface, bool async) {
  regs_->write32(surf_reg(p, pl), surface);
  ++stats_.flips[index(p)][static_cast<size_t>(pl)];
  if (pl == Plane::Primary) {
    const uint64_t fc = pipe_reg(p, pipe::kFlipCount);
    regs_->write32(fc, regs_->read32(fc) + 1);
  }
  if (!active(p)) return latch(p, pl);  // no scan-out to wait for
  if (async) {
    if (held(p, pl)) end_hold(p, pl, false, false);  // this flip-done covers the held one
    latch(p, pl);
    damage_.flip_latched(p, pl);
    async_[index(p)] |= plane_bit(pl);
    pending_[index(p)] &= static_cast<uint8_t>(~plane_bit(pl));
    irq_->inject(p, irq::flip_done(pl));
    // A storm still flips for the guest, but the host hears of it at the next vblank only
    // (whose report lists the plane): a guest cannot make a host display commit unboundedly.
    if (++async_count_[index(p)][static_cast<size_t>(pl)] > kMaxAsyncFlipsPerVblank) {
      log_attack(ctx_->tally().attacks, GuestAttack::AsyncFlipStorm, ctx_->id(),
                 "pipe {}: more than {} async flips of one plane in a vblank: the host sees them at the vblank",
                 letter(p), kMaxAsyncFlipsPerVblank);
      return;
    }
    if (async_listener_) async_listener_(p, pl);
    return;
  }
  pending_[index(p)] |= plane_bit(pl);
}

void DisplayEngine::latch(Pipe p, Plane pl) { regs_->write32(live_reg(p, pl), regs_->read32(surf_reg(p, pl))); }

VblankReport DisplayEngine::vblank() {
  VblankReport r;
  for (Pipe p : kPipes) {
    auto& out = r.pipes[index(p)];
    if (!active(p)) continue;
    out.active = true;
    for (Plane pl : kPlanes) age_hold(p, pl);
    for (Plane pl : kPlanes) {
      if (!(pending_[index(p)] & plane_bit(pl))) continue;
      const uint32_t previous = regs_->read32(live_reg(p, pl));
      latch(p, pl);
      damage_.flip_latched(p, pl);
      // A guest that flipped again without waiting gets one flip-done for both, as from one IIR bit.
      if (held(p, pl)) end_hold(p, pl, false, false);
      if (!hold(p, pl, previous)) irq_->inject(p, irq::flip_done(pl));
    }
    out.latched = std::exchange(pending_[index(p)], 0);
    out.async = std::exchange(async_[index(p)], 0);
    async_count_[index(p)] = {};
    out.hinted = damage_.enabled();
    for (Plane pl : {Plane::Primary, Plane::Sprite}) out.damage[static_cast<size_t>(pl)] = damage_.take_due(p, pl);
    const uint64_t fc = pipe_reg(p, pipe::kFrameCount);
    regs_->write32(fc, regs_->read32(fc) + 1);
    ++stats_.vblanks[index(p)];
    irq_->inject(p, irq::kVblank);
  }
  return r;
}

void DisplayEngine::stop_all() {
  for (Pipe p : kPipes) {
    const uint64_t conf = pipe_reg(p, pipe::kConf);
    regs_->write32(conf, pipe::kActive.set(regs_->read32(conf), 0));
  }
  pending_.fill(0);
  async_.fill(0);
  async_count_ = {};
  for (Pipe p : kPipes) drop_holds(p), damage_.whole_pipe(p);
  retime();
  report_pipe_states();
}

// --- damage hints (docs/hardware.md, Damage hints) ---

void DisplayEngine::note_plane_write(Pipe p, const RegWrite& w) {
  const uint64_t off = w.row->offset;
  if (off == trans::kPipeSrc) return damage_.whole(p, Plane::Primary);
  for (Plane pl : {Plane::Primary, Plane::Sprite}) {
    const uint32_t n = universal_index(pl);
    for (uint64_t r : {plane::kCtl, plane::kStride, plane::kPos, plane::kSize, plane::kOffset})
      if (off == plane::reg(Pipe::A, n, r)) return damage_.whole(p, pl);
  }
}

std::pair<uint32_t, uint32_t> DisplayEngine::plane_size(Pipe p, Plane pl) const {
  if (pl == Plane::Primary) {
    const uint32_t src = regs_->read32(pipe_reg(p, trans::kPipeSrc));
    return {trans::kSrcWidth.get(src) + 1, trans::kSrcHeight.get(src) + 1};
  }
  const uint32_t size = regs_->read32(plane::reg(p, universal_index(pl), plane::kSize));
  return {plane::kXY_X.get(size) + 1, plane::kXY_Y.get(size) + 1};
}

void DisplayEngine::submit_damage(Pipe p, Plane pl, std::span<const DamageRect> rects, bool whole, bool with_flip) {
  DamageSet d;
  if (whole) {
    d.mark_whole();
  } else {
    const auto [w, h] = plane_size(p, pl);
    for (const DamageRect& r : rects) d.add(clip(r, w, h));  // empty ones are ignored
  }
  damage_.submit(p, pl, d, with_flip);
}

void DisplayEngine::damage_whole(std::optional<Pipe> p, std::optional<Plane> pl) {
  for (Pipe q : kPipes)
    for (Plane ql : {Plane::Primary, Plane::Sprite})
      if ((!p || *p == q) && (!pl || *pl == ql)) damage_.whole(q, ql);
}

void DisplayEngine::add_flip_done_gate(FlipDoneGate* gate, uint32_t max_hold_vblanks) {
  gates_.add(gate, max_hold_vblanks);
}

void DisplayEngine::remove_flip_done_gate(FlipDoneGate* gate) {
  if (gates_.remove(gate)) retry_held();  // never strand a guest waiting on the gate that left
}

void DisplayEngine::retry_held() {
  for (Pipe p : kPipes)
    for (Plane pl : kPlanes) {
      const Hold& h = holds_[index(p)][static_cast<size_t>(pl)];
      if (h.on && gates_.may_complete({p, pl, h.previous, false})) end_hold(p, pl, true, false);
    }
}

bool DisplayEngine::hold(Pipe p, Plane pl, uint32_t previous) {
  // Flipping to the surface already shown frees nothing, so there is nothing to wait for.
  if (gates_.empty() || previous == regs_->read32(live_reg(p, pl))) return false;
  if (gates_.may_complete({p, pl, previous, true})) return false;
  holds_[index(p)][static_cast<size_t>(pl)] = Hold{true, previous, 0};
  ++stats_.held;
  return true;
}

void DisplayEngine::age_hold(Pipe p, Plane pl) {
  Hold& h = holds_[index(p)][static_cast<size_t>(pl)];
  if (!h.on) return;
  ++h.vblanks;
  if (gates_.may_complete({p, pl, h.previous, false})) return end_hold(p, pl, true, false);
  if (h.vblanks < gates_.max_hold()) return;
  ++stats_.hold_timeouts;
  end_hold(p, pl, true, true);
}

void DisplayEngine::end_hold(Pipe p, Plane pl, bool raise, bool timed_out) {
  Hold& h = holds_[index(p)][static_cast<size_t>(pl)];
  h.on = false;
  if (raise) irq_->inject(p, irq::flip_done(pl));
  gates_.hold_ended({p, pl, h.previous, false}, timed_out);
}

void DisplayEngine::drop_holds(Pipe p) {
  for (Plane pl : kPlanes)
    if (held(p, pl)) end_hold(p, pl, false, false);
}

void DisplayEngine::report_pipe_states() {
  for (Pipe p : kPipes) {
    const auto bit = static_cast<uint8_t>(1u << index(p));
    const bool on = active(p);
    if (on == ((reported_active_ & bit) != 0)) continue;
    reported_active_ = static_cast<uint8_t>(on ? reported_active_ | bit : reported_active_ & ~bit);
    if (pipe_listener_) pipe_listener_(p, on);
  }
}

// One timer per vGPU at the rate of the first active pipe (the virtual monitor's mode).
void DisplayEngine::retime() {
  uint64_t period = 0;
  for (Pipe p : kPipes) {
    if (!active(p)) continue;
    refresh_mhz_ = display::refresh_mhz(mode_regs(*regs_, p));
    period = period_ns_for_mhz(refresh_mhz_);
    break;
  }
  if (period != period_ns_) {
    period_ns_ = period;
    timer_->set_vblank_period(period);
  }
}

}  // namespace vgd::display
