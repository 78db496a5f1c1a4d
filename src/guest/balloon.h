// Address-space ballooning (docs/hardware.md, Ballooning) as a pure function: from the slices
// PVINFO gives and the GGTT geometry, the up-to-four holes the guest reserves so that it can only
// ever allocate inside its own slices.
#pragma once

#include <array>
#include <cstdint>

#include "guest/status.h"
#include "util/address.h"

namespace vgd::guest {

struct PvResources {
  uint32_t vgt_id = 0;
  uint32_t caps = 0;
  GmRange mappable{};     // aperture (low GM) slice
  GmRange nonmappable{};  // hidden (high GM) slice
  uint32_t fence_num = 0;
};

struct GgttGeometry {
  uint64_t total = 0;         // GGTT size
  uint64_t mappable_end = 0;  // aperture size
};

// Hole i as docs/hardware.md, Ballooning numbers them: 0 below the mappable slice, 1 above it up to
// the aperture end, 2 between the aperture end and the hidden slice, 3 above the hidden slice.
// Empty holes have size 0. Reservation order is 2, 3, 0, 1.
struct BalloonPlan {
  std::array<GmRange, 4> holes{};
  uint64_t reserved_bytes() const {
    uint64_t s = 0;
    for (const GmRange& h : holes) s += h.size;
    return s;
  }
};
inline constexpr std::array<int, 4> kBalloonOrder = {2, 3, 0, 1};

Error plan_balloon(const PvResources& res, const GgttGeometry& geo, BalloonPlan& out);

}  // namespace vgd::guest
