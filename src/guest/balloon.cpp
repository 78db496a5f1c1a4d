#include "guest/balloon.h"

namespace vgd::guest {

Error plan_balloon(const PvResources& res, const GgttGeometry& geo, BalloonPlan& out) {
  out = BalloonPlan{};
  const uint64_t mappable_base = res.mappable.begin.value();
  const uint64_t mappable_end = res.mappable.end().value();
  const uint64_t unmappable_base = res.nonmappable.begin.value();
  const uint64_t unmappable_end = res.nonmappable.end().value();
  // PVINFO fields are 32-bit, so these sums cannot wrap in 64 bits.
  if (mappable_end > geo.mappable_end || unmappable_base < geo.mappable_end || unmappable_end > geo.total ||
      geo.mappable_end > geo.total)
    return Error::InvalidBalloon;

  auto hole = [](uint64_t b, uint64_t e) { return e > b ? GmRange{Gma(b), e - b} : GmRange{}; };
  out.holes[2] = hole(geo.mappable_end, unmappable_base);
  out.holes[3] = hole(unmappable_end, geo.total);
  out.holes[0] = hole(0, mappable_base);
  out.holes[1] = hole(mappable_end, geo.mappable_end);
  return Error::None;
}

}  // namespace vgd::guest
