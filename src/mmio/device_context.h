// What a vGPU's MMIO devices may see and do of the vGPU that owns them: its identity, its
// counters, the PV-aware flag, failsafe entry and management events. Keeps devices independent
// of the Vgpu class (and testable with a fake).
#pragma once

#include <cstdint>
#include <functional>
#include <variant>

#include "mmio/guest_attack.h"

namespace vgd {

enum class FailsafeReason : uint8_t { InsufficientResource, UnsupportedGuest };
constexpr const char* describe(FailsafeReason r) {
  switch (r) {
    case FailsafeReason::InsufficientResource: return "guest reported insufficient resources";
    case FailsafeReason::UnsupportedGuest: return "unsupported guest (not PV-aware)";
  }
  return "?";
}

// What devices count of their guest's accesses. Misbehaviour goes to `attacks`, one counter per
// entry of the catalogue (mmio/guest_attack.h); the rest is informational.
struct VgpuCounters {
  AttackCounts attacks;
  uint64_t pvinfo_unlisted_read = 0;
  uint64_t pte_writes = 0;
  uint64_t pte_not_present = 0;
  uint64_t pte_half_pending = 0;
  uint64_t damage_submits = 0;   // damage_submit writes, good or not (docs/hardware.md, Damage hints)
  uint64_t damage_disabled = 0;  // ... of them while hints were off: ignored

  uint64_t refused() const { return attacks.total(); }
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
