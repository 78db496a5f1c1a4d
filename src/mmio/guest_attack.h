// The catalogue of guest attacks (docs/guest-attacks.md): every point where the device model
// refuses or neutralises something a guest programmed, one name each. A counter per attack lives
// in the layer that detects it (the bus, a device, the display engine, the plane decoder), all
// of the same type, so a vGPU's attacks add up into one table for /metrics and /api.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/guest_error_log.h"

namespace vgd {

enum class GuestAttack : uint8_t {
  // MMIO bus (mmio/bus.cpp)
  MmioBadSize,
  MmioMisaligned,
  MmioBeyondBar,
  MmioUnbacked,
  // GGTT entries (vgpu/ggtt_device.cpp)
  GgttForeignPte,
  GgttFrameOutsideRam,
  GgttNarrowWrite,
  // PVINFO (vgpu/pvinfo_device.cpp)
  PvinfoReadonlyWrite,
  PvinfoRsv5Write,
  PvinfoDisplayReadyInvalid,
  PvinfoG2vInvalid,
  DamageCtlReserved,
  DamageSubmitInvalid,
  // Fences (vgpu/fence_device.cpp)
  FenceOutOfRange,
  // Display engine and interrupts (display/)
  ModeTooLarge,
  RefreshOutOfRange,
  DisplayHostBitsWrite,
  AsyncFlipStorm,
  IrqStatusWrite,
  IrqMasterReserved,
  // Plane decoder (decode/plane_cache.cpp), once per distinct programming a query decodes
  PlaneForeignBase,
  PlaneCrossesSlice,
  PlaneUnmappedPage,
  PlaneBadFormat,
  PlaneBadTiling,
  CursorBadMode,
  PlaneStrideTooSmall,
  PlaneWindowOutside,
  SpriteLargerThanPipe,
  PlaneZeroSize,
  kCount
};

inline constexpr size_t kGuestAttackCount = static_cast<size_t>(GuestAttack::kCount);

// The name /metrics and /api use (label `attack`).
constexpr std::string_view attack_name(GuestAttack a) {
  constexpr std::array<std::string_view, kGuestAttackCount> kNames = {
      "mmio_bad_size",        "mmio_misaligned",      "mmio_beyond_bar",         "mmio_unbacked",
      "ggtt_foreign_pte",     "ggtt_frame_outside_ram", "ggtt_narrow_write",     "pvinfo_readonly_write",
      "pvinfo_rsv5_write",    "pvinfo_display_ready_invalid", "pvinfo_g2v_invalid", "damage_ctl_reserved",
      "damage_submit_invalid", "fence_out_of_range",  "mode_too_large",          "refresh_out_of_range",
      "display_host_bits_write", "async_flip_storm",  "irq_status_write",        "irq_master_reserved",
      "plane_foreign_base",   "plane_crosses_slice",  "plane_unmapped_page",     "plane_bad_format",
      "plane_bad_tiling",     "cursor_bad_mode",      "plane_stride_too_small",  "plane_window_outside",
      "sprite_larger_than_pipe", "plane_zero_size"};
  const auto i = static_cast<size_t>(a);
  return i < kNames.size() ? kNames[i] : "unknown";
}

// One counter per attack.
class AttackCounts {
 public:
  uint64_t& operator[](GuestAttack a) { return n_[static_cast<size_t>(a)]; }
  uint64_t operator[](GuestAttack a) const { return n_[static_cast<size_t>(a)]; }
  uint64_t total() const {
    uint64_t t = 0;
    for (uint64_t v : n_) t += v;
    return t;
  }
  // Counters kept by different layers of one vGPU add up (each attack is counted by one only).
  AttackCounts& operator+=(const AttackCounts& o) {
    for (size_t i = 0; i < n_.size(); ++i) n_[i] += o.n_[i];
    return *this;
  }
  friend AttackCounts operator+(AttackCounts a, const AttackCounts& b) { return a += b; }
  bool operator==(const AttackCounts&) const = default;

 private:
  std::array<uint64_t, kGuestAttackCount> n_{};
};

// Counts attack `a` and logs it, rate-limited (util/guest_error_log.h); the message names it.
template <class... Args>
void log_attack(AttackCounts& c, GuestAttack a, uint32_t vgpu_id, fmt::format_string<Args...> f, Args&&... args) {
  log_guest_error(c[a], vgpu_id, "{} [{}]", fmt::format(f, std::forward<Args>(args)...), attack_name(a));
}

}  // namespace vgd
