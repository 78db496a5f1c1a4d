// What a vGPU's MMIO devices may see and do of the vGPU that owns them: its identity, its
// counters, the PV-aware flag, failsafe entry and management events. Keeps devices independent
// of the Vgpu class (and testable with a fake).
#pragma once

#include <cstdint>
#include <functional>
#include <variant>

namespace vgd {

enum class FailsafeReason : uint8_t { InsufficientResource, UnsupportedGuest };
constexpr const char* describe(FailsafeReason r) {
  switch (r) {
    case FailsafeReason::InsufficientResource: return "guest reported insufficient resources";
    case FailsafeReason::UnsupportedGuest: return "unsupported guest (not PV-aware)";
  }
  return "?";
}

// Guest misbehaviour is counted here: each counter is a distinct kind of refused access.
struct VgpuCounters {
  uint64_t pte_foreign = 0;            // GGTT entry outside own slices: dropped
  uint64_t pte_bad_frame = 0;          // frame outside the VM's RAM: scratch page
  uint64_t pte_bad_size = 0;           // 1/2-byte GTT write: refused
  uint64_t pvinfo_write_dropped = 0;   // write to a non-writable PVINFO offset
  uint64_t pvinfo_rsv5_write = 0;      // "insufficient resource" signal: failsafe
  uint64_t display_ready_invalid = 0;  // value other than 0/1
  uint64_t g2v_invalid = 0;            // unknown g2v_notify code
  uint64_t fence_out_of_range = 0;     // fence index beyond the allocation
  uint64_t mode_too_large = 0;         // a mode beyond the type's max resolution: the pipe stays off
  uint64_t refresh_clamped = 0;        // timings outside 24..240 Hz: the vblank timer is clamped
  uint64_t damage_refused = 0;         // a bad damage_submit or damage_ctl: whole plane instead
  // Informational, not misbehaviour.
  uint64_t pvinfo_unlisted_read = 0;
  uint64_t pte_writes = 0;
  uint64_t pte_not_present = 0;
  uint64_t pte_half_pending = 0;
  uint64_t damage_submits = 0;   // damage_submit writes, good or not (docs/hardware.md, Damage hints)
  uint64_t damage_disabled = 0;  // ... of them while hints were off: ignored

  uint64_t refused() const {
    return pte_foreign + pte_bad_frame + pte_bad_size + pvinfo_write_dropped + pvinfo_rsv5_write +
           display_ready_invalid + g2v_invalid + fence_out_of_range + mode_too_large + refresh_clamped + damage_refused;
  }
};

struct DisplayReadyEvent {
  uint32_t vgpu;
  uint32_t ready;
};
struct FailsafeEvent {
  uint32_t vgpu;
  FailsafeReason reason;
};
using MgmtEvent = std::variant<DisplayReadyEvent, FailsafeEvent>;
using MgmtSink = std::function<void(const MgmtEvent&)>;

class DeviceContext {
 public:
  virtual uint32_t id() const = 0;
  virtual VgpuCounters& tally() = 0;  // counters to bump
  virtual bool pv_aware() const = 0;
  virtual void mark_pv_aware() = 0;
  virtual void enter_failsafe(FailsafeReason r) = 0;
  virtual void emit(const MgmtEvent& e) = 0;

 protected:
  ~DeviceContext() = default;
};

}  // namespace vgd
