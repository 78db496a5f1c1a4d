// Buffer ids and who holds them (docs/protocol.md §3.4, §4), shared by the Exporter and the
// ShadowFrames of a vGPU.
//  * IdSequence: ids from a range, increasing, so a number a consumer may have cached is not
//    given to another surface; after the range's end it starts again at its beginning,
//    skipping ids still in use.
//  * Holds: per consumer, its export references (get() not yet released) and its pins (the id
//    its last query of each plane answered, until it gets it), so one consumer's release never
//    takes away the id another was just told about.
// Pure bookkeeping: no descriptors, no locking (the caller serialises, one per vGPU).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>

#include "hw/display.h"

namespace vgd::exporter {

// One consumer of one vGPU (the daemon: one connection's opening of it).
struct ConsumerKey {
  uint64_t value = 0;
  friend auto operator<=>(const ConsumerKey&, const ConsumerKey&) = default;
};

struct IdRange {
  uint32_t first = 1, last = 0;
  constexpr bool contains(uint32_t id) const { return id >= first && id <= last; }
};
// Guest-memory buffers and shadow frames never share a number: each draws from its own range.
inline constexpr IdRange kBufferIds{1, 0x3FFFFFFF};
inline constexpr IdRange kShadowIds{0x40000000, 0xFFFFFFFF};

class IdSequence {
 public:
  explicit constexpr IdSequence(IdRange r) : IdSequence(r, r.first) {}
  // Starting elsewhere than at the range's first id (to test the wrap).
  constexpr IdSequence(IdRange r, uint32_t next) : range_(r), next_(r.contains(next) ? next : r.first) {}

  // The next id for which in_use(id) is false. The caller keeps fewer ids than the range holds
  // (a few dozen against a billion), so the search ends.
  template <class InUse>
  uint32_t take(InUse&& in_use) {
    for (;;) {
      const uint32_t id = next_;
      next_ = id == range_.last ? range_.first : id + 1;
      if (!in_use(id)) return id;
    }
  }
  IdRange range() const { return range_; }

 private:
  IdRange range_;
  uint32_t next_;
};

class Holds {
 public:
  // `who`'s query of `plane` answered `id` (0: no buffer): that pin replaces its previous one.
  void pin(ConsumerKey who, hw::Plane plane, uint32_t id);
  // A get(): one more reference of `who` on `id`; its pins of `id` are spent.
  void add(ConsumerKey who, uint32_t id);
  // A release(): the references `who` still holds on `id`, or -1 when it held none.
  int64_t drop(ConsumerKey who, uint32_t id);
  // Close or disconnect: everything `who` held or pinned.
  void forget(ConsumerKey who);
  // Every reference and pin (vGPU reset).
  void clear() { consumers_.clear(), tally_.clear(); }

  bool pinned(uint32_t id) const { return tally(id).pins != 0; }
  uint32_t references(uint32_t id) const { return tally(id).refs; }  // all consumers'
  // `who`'s references, on every id (what the daemon's per-consumer limit counts).
  uint32_t held_by(ConsumerKey who) const;
  // Neither referenced nor pinned: the LRU may drop it.
  bool idle(uint32_t id) const { return !tally_.contains(id); }

 private:
  struct Consumer {
    std::array<uint32_t, hw::kPlaneCount> pins{};  // by plane; 0: none
    std::map<uint32_t, uint32_t> refs;              // id -> references
    uint32_t total = 0;                             // the sum of refs
  };
  struct Tally {  // every consumer's, per id: asked on each query, kept rather than summed
    uint32_t refs = 0, pins = 0;
  };
  Tally tally(uint32_t id) const;
  void unpin(uint32_t id);
  void unref(uint32_t id, uint32_t n);

  std::map<ConsumerKey, Consumer> consumers_;
  std::map<uint32_t, Tally> tally_;  // ids someone references or pins, only
};

}  // namespace vgd::exporter
