#include "decode/plane_cache.h"

#include <algorithm>

namespace vgd::decode {

const Decoded& PlaneCache::decode(const VregFile& regs, hw::Plane plane, const GgttView& ggtt) {
  const auto pipe = first_active_pipe(regs);
  if (!pipe) return no_pipe_;
  const PipeSnapshot in = plane_inputs(snapshot(regs, *pipe), plane);
  const uint64_t gen = ggtt.generation();
  ++clock_;
  for (Entry& e : entries_) {
    if (e.used != 0 && e.plane == plane && e.generation == gen && e.inputs == in) {
      ++c_.hits;
      e.used = clock_;
      return e.result;
    }
  }
  ++c_.misses;
  Entry& victim = *std::min_element(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.used < b.used; });
  victim.inputs = in;
  victim.plane = plane;
  victim.generation = gen;
  victim.used = clock_;
  victim.result = decode_plane(in, plane, ggtt);
  if (!victim.result && victim.result.error().attack)
    log_attack(attacks_, *victim.result.error().attack, vgpu_id_, "refused: {}", victim.result.error().reason);
  return victim.result;
}

}  // namespace vgd::decode
