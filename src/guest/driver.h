// The guest driver model: what i915 does on a vGPU, as far as the display needs it. It touches
// the device only through an MmioPort and its own RAM through a RamPort. No heap, no exceptions,
// no RTTI (it also runs inside a micro-VM): fixed tables and error codes.
#pragma once

#include <cstdint>

#include "guest/balloon.h"
#include "guest/ports.h"
#include "guest/status.h"
#include "util/range_allocator.h"

namespace vgd::guest {

enum class State : uint8_t { Fresh, Detected, Ballooned };
enum class Placement : uint8_t { Aperture, Hidden };

// A buffer in graphics memory backed by guest RAM, bound through the GGTT.
struct Buffer {
  Gma gm{};
  Gpa gpa{};  // contiguous backing in guest RAM
  uint64_t size = 0;
};

class Driver {
 public:
  static constexpr size_t kMaxBuffers = 32;

  Driver(MmioPort& mmio, RamPort& ram, const Platform& platform)
      : mmio_(&mmio), ram_(&ram), platform_(platform), ram_alloc_(platform.free_ram) {}

  // Looks for PVINFO: magic, then version >= 1, then caps and resources.
  Error probe();
  // Reserves everything outside this vGPU's slices (needs probe()).
  Error balloon();
  // Releases the holes (driver unload).
  void deballoon();

  // Allocates GM in the given slice and guest RAM, writes the GGTT entries.
  Error alloc_buffer(uint64_t size, Placement where, Buffer& out);
  // Clears the GGTT entries and returns both ranges.
  Error free_buffer(const Buffer& b);

  // Programs fence register i; refused unless i < PVINFO fence_num.
  Error set_fence(uint32_t index, uint64_t value);
  // Tells the host the display is set up (or torn down).
  Error set_display_ready(bool ready);

  State state() const { return state_; }
  const PvResources& resources() const { return res_; }
  const BalloonPlan& balloon_plan() const { return plan_; }
  uint64_t gm_reserved_bytes() const { return reserved_bytes_; }
  const Platform& platform() const { return platform_; }
  RamPort& ram() { return *ram_; }
  MmioPort& mmio() { return *mmio_; }

 private:
  void bind(const Buffer& b, bool present);

  MmioPort* mmio_;
  RamPort* ram_;
  Platform platform_;
  State state_ = State::Fresh;
  PvResources res_{};
  BalloonPlan plan_{};
  uint64_t reserved_bytes_ = 0;  // like i915's ggtt->vm.reserved
  RangeAllocator<Gma, kMaxBuffers + 4> gm_{};
  RangeAllocator<Gpa, kMaxBuffers> ram_alloc_;
};

}  // namespace vgd::guest
