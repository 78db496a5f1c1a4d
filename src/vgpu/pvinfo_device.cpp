#include "vgpu/pvinfo_device.h"

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>
#include <optional>
#include <span>

#include "hw/pvinfo.h"
#include "util/guest_error_log.h"

namespace vgd {
namespace {

using hw::kPvinfoOffset;
namespace pv = hw::pv;

struct Window {
  uint64_t begin, end;
  bool holds(uint64_t rel, unsigned size) const { return rel >= begin && rel + size <= end; }
};

// Fields a guest may read without a note in the log (docs/hardware.md, PVINFO).
constexpr Window kQuietReads[] = {
    {pv::kMagic, pv::kVgtCaps + 4},
    {pv::kMappableBase, pv::kMaxMode + 4},
    {pv::kRsv6, pv::kRsv6 + 4},
    {pv::kDamageRect, pv::kDamageSubmit + 4},
};
// Guest-writable storage: hotspot, PDPs and execlist descriptor are contiguous.
constexpr Window kStoredWrites{pv::kCursorXHot, pv::kGuestWritableEnd};
constexpr Window kDisplayReady{pv::kDisplayReady, pv::kDisplayReady + 4};
constexpr Window kG2v{pv::kG2vNotify, pv::kG2vNotify + 4};
constexpr Window kRsv5{pv::kRsv5, pv::kRsv5 + pv::kRsv5Size};
constexpr Window kDamageRects{pv::kDamageRect, pv::kDamageRect + pv::kDamageRectSize};

bool overlaps(Window w, uint64_t rel, unsigned size) { return rel < w.end && rel + size > w.begin; }

}  // namespace

void PvinfoDevice::store(uint64_t rel, unsigned size, uint64_t value) {
  vregs_->write(kPvinfoOffset + rel, size, value);
}

void PvinfoDevice::populate(const VgpuResources& res) {
  std::memset(vregs_->raw(kPvinfoOffset), 0, hw::kPvinfoSize);
  store(pv::kMagic, 8, hw::kPvinfoMagic);
  store(pv::kVersionMajor, 2, hw::kPvinfoVersionMajor);
  store(pv::kVersionMinor, 2, hw::kPvinfoVersionMinor);
  store(pv::kVgtId, 4, ctx_->id());
  store(pv::kVgtCaps, 4, damage_offered_ ? hw::kCapsAdvertised : hw::kCapsAdvertised & ~hw::kCapDamageHints);
  // GM addresses fit 32 bits: GpuGeometry::validate() caps the GGTT at 4 GiB.
  store(pv::kMappableBase, 4, res.aperture.begin.value());
  store(pv::kMappableSize, 4, res.aperture.size);
  store(pv::kNonmappableBase, 4, res.hidden.begin.value());
  store(pv::kNonmappableSize, 4, res.hidden.size);
  store(pv::kFenceNum, 4, res.fences.size());
  if (engine_) {  // so a guest driver offers only modes the pipe will light
    const display::ModeLimits l = engine_->limits();
    store(pv::kMaxMode, 4, pv::kMaxModeHeight.set(pv::kMaxModeWidth.set(0, l.max_width), l.max_height));
  }
  store(pv::kDisplayReady, 4, static_cast<uint32_t>(hw::DisplayReady::NotReady));
  store(pv::kCursorXHot, 4, hw::kHotspotUnknown);
  store(pv::kCursorYHot, 4, hw::kHotspotUnknown);
  if (engine_) engine_->set_damage_hints(false);  // damage_ctl is 0 again
}

uint64_t PvinfoDevice::read(uint64_t rel, unsigned size) {
  ctx_->mark_pv_aware();
  bool quiet = false;
  for (const Window& w : kQuietReads) quiet |= w.holds(rel, size);
  if (!quiet) {
    ++ctx_->tally().pvinfo_unlisted_read;
    spdlog::debug("vgpu {}: PVINFO read of unlisted offset {:#x}", ctx_->id(), rel);
  }
  return vregs_->read(kPvinfoOffset + rel, size);
}

void PvinfoDevice::write(uint64_t rel, unsigned size, uint64_t value) {
  VgpuCounters& c = ctx_->tally();
  if (overlaps(kRsv5, rel, size)) {
    log_attack(c.attacks, GuestAttack::PvinfoRsv5Write, ctx_->id(), "PVINFO rsv5 write at {:#x}: guest reports insufficient resources", rel);
    ctx_->enter_failsafe(FailsafeReason::InsufficientResource);
    return;
  }
  if (kStoredWrites.holds(rel, size) || (damage_offered_ && kDamageRects.holds(rel, size))) {
    store(rel, size, value);
    return;
  }
  if (rel == kDisplayReady.begin && size == 4) {
    if (value > static_cast<uint32_t>(hw::DisplayReady::Ready)) {
      log_attack(c.attacks, GuestAttack::PvinfoDisplayReadyInvalid, ctx_->id(), "display_ready value {:#x} is neither 0 nor 1", value);
      return;
    }
    store(rel, size, value);
    ctx_->emit(DisplayReadyEvent{ctx_->id(), static_cast<uint32_t>(value)});
    return;
  }
  if (rel == kG2v.begin && size == 4) {
    store(rel, size, value);
    const auto code = static_cast<uint32_t>(value);
    if (code == static_cast<uint32_t>(hw::G2v::Legacy)) return;
    if (code >= static_cast<uint32_t>(hw::G2v::PpgttL3Create) && code < static_cast<uint32_t>(hw::G2v::Max)) {
      spdlog::debug("vgpu {}: g2v notification {} (no display effect)", ctx_->id(), code);
      return;
    }
    log_attack(c.attacks, GuestAttack::PvinfoG2vInvalid, ctx_->id(), "invalid g2v_notify code {:#x}", code);
    return;
  }
  if (damage_offered_ && rel == pv::kDamageCtl && size == 4) return damage_ctl(static_cast<uint32_t>(value));
  if (damage_offered_ && rel == pv::kDamageSubmit && size == 4) return damage_submit(static_cast<uint32_t>(value));
  log_attack(c.attacks, GuestAttack::PvinfoReadonlyWrite, ctx_->id(), "dropped PVINFO write of {} bytes at {:#x}", size, rel);
}

// --- damage hints (docs/hardware.md, Damage hints) ---

void PvinfoDevice::damage_ctl(uint32_t value) {
  if (value & ~hw::damage::kCtlEnable) {
    log_attack(ctx_->tally().attacks, GuestAttack::DamageCtlReserved, ctx_->id(), "damage_ctl {:#x} sets reserved bits: refused", value);
    return;
  }
  store(pv::kDamageCtl, 4, value);
  if (engine_) engine_->set_damage_hints(value & hw::damage::kCtlEnable);
}

void PvinfoDevice::damage_submit(uint32_t v) {
  namespace dmg = hw::damage;
  VgpuCounters& c = ctx_->tally();
  ++c.damage_submits;
  if (!engine_ || !engine_->damage_hints()) {
    ++c.damage_disabled;  // hints off: nothing to describe
    return;
  }
  const uint32_t count = dmg::kCount.get(v), plane = dmg::kPlane.get(v), pipe = dmg::kPipe.get(v);
  const bool whole = dmg::kWholePlane.get(v) != 0;
  std::optional<hw::Pipe> p;
  std::optional<hw::Plane> pl;
  if (pipe < hw::kPipeCount) p = static_cast<hw::Pipe>(pipe);
  if (plane <= 1) pl = plane == 0 ? hw::Plane::Primary : hw::Plane::Sprite;
  if ((v & dmg::kSubmitReserved) || (!whole && count > dmg::kMaxRects) || !p || !pl) {
    // Never lose an update: what the guest meant to describe is taken as all of it.
    log_attack(c.attacks, GuestAttack::DamageSubmitInvalid, ctx_->id(), "bad damage_submit {:#x}: plane(s) taken as wholly damaged", v);
    return engine_->damage_whole(p, pl);
  }
  std::array<display::DamageRect, dmg::kMaxRects> rects{};
  for (uint32_t i = 0; !whole && i < count; ++i) {
    const uint64_t at = kPvinfoOffset + pv::kDamageRect + uint64_t{i} * 8;
    const auto u16 = [&](uint64_t o) { return static_cast<uint32_t>(vregs_->read(at + o, 2)); };
    rects[i] = {u16(0), u16(2), u16(4), u16(6)};
  }
  engine_->submit_damage(*p, *pl, std::span(rects.data(), whole ? 0 : count), whole, dmg::kWithFlip.get(v) != 0);
}

}  // namespace vgd
