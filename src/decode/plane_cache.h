// Decoded planes remembered between queries. A consumer queries the planes of every frame, but
// the answer changes only when the plane's registers or the GGTT do: a flipping guest alternates
// two or three latched surfaces, each decoding to the same page list (2,025 GGTT lookups at
// 1080p) every time. An entry is reused while its plane inputs (decoder.h) and the GGTT's
// generation are unchanged, so a hit is exactly what decode_plane() would return.
#pragma once

#include <array>
#include <cstdint>

#include "decode/decoder.h"

namespace vgd::decode {

struct PlaneCacheCounters {
  uint64_t hits = 0, misses = 0;
};

class PlaneCache {
 public:
  // `vgpu_id` names the vGPU in the log of the attacks its decodes refuse.
  explicit PlaneCache(uint32_t vgpu_id = 0) : vgpu_id_(vgpu_id) {}
  // decode_plane() of `plane` on the pipe the decoder shows (NoPlane when no pipe runs). The
  // reference stays valid until the next call.
  const Decoded& decode(const VregFile& regs, hw::Plane plane, const GgttView& ggtt);
  const PlaneCacheCounters& counters() const { return c_; }
  // Decodes refused as guest attacks (DecodeError::attack), each counted once per distinct
  // programming it decoded: queries the cache answers again are not counted again.
  const AttackCounts& attacks() const { return attacks_; }

 private:
  // Two or three surfaces per flipping primary, plus sprite and cursor.
  static constexpr size_t kEntries = 6;
  struct Entry {
    PipeSnapshot inputs;
    hw::Plane plane = hw::Plane::Primary;
    uint64_t generation = 0;
    uint64_t used = 0;  // LRU clock value, 0 = empty
    Decoded result = Unexpected(DecodeError{DecodeError::Kind::NoPlane, {}});
  };
  std::array<Entry, kEntries> entries_;
  Decoded no_pipe_ = Unexpected(DecodeError{DecodeError::Kind::NoPlane, "no active pipe"});
  uint64_t clock_ = 0;
  PlaneCacheCounters c_;
  AttackCounts attacks_;
  uint32_t vgpu_id_;
};

}  // namespace vgd::decode
