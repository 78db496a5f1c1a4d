// Places non-overlapping ranges inside one address space, like drm_mm does for the GGTT:
// exact reservations (balloon holes, host areas) and first-fit allocations, bottom-up or
// top-down, inside a window. Fixed capacity, no heap, no exceptions: shared by the host
// partitioner and the guest driver core. O(n) per call; n is a few hundred at most.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "util/address.h"

namespace vgd {

enum class PlaceStatus : uint8_t { Ok, NoSpace, Overlap, OutsideSpace, TableFull, Invalid };

template <class A, size_t N>
class RangeAllocator {
 public:
  using R = Range<A>;

  constexpr RangeAllocator() = default;
  constexpr explicit RangeAllocator(R space) : space_(space) {}

  constexpr R space() const { return space_; }
  constexpr std::span<const R> nodes() const { return {nodes_.data(), n_}; }
  constexpr uint64_t used_bytes() const {
    uint64_t s = 0;
    for (size_t i = 0; i < n_; ++i) s += nodes_[i].size;
    return s;
  }

  // Places exactly r.
  constexpr PlaceStatus reserve(R r) {
    if (r.size == 0) return PlaceStatus::Invalid;
    if (!space_.contains(r.begin, r.size)) return PlaceStatus::OutsideSpace;
    size_t pos = lower_bound(r.begin);
    if (pos > 0 && nodes_[pos - 1].overlaps(r)) return PlaceStatus::Overlap;
    if (pos < n_ && nodes_[pos].overlaps(r)) return PlaceStatus::Overlap;
    return insert_at(pos, r);
  }

  // Finds room for size bytes aligned to align inside within (clipped to the space).
  constexpr PlaceStatus allocate(uint64_t size, uint64_t align, R within, bool top_down, R& out) {
    if (size == 0 || align == 0) return PlaceStatus::Invalid;
    const A lo = within.begin > space_.begin ? within.begin : space_.begin;
    const A hi = within.end() < space_.end() ? within.end() : space_.end();
    if (hi <= lo) return PlaceStatus::NoSpace;
    // Gaps are [prev.end, next.begin) for consecutive nodes, bounded by [lo, hi).
    for (size_t k = 0; k <= n_; ++k) {
      const size_t g = top_down ? n_ - k : k;
      A gb = g == 0 ? space_.begin : nodes_[g - 1].end();
      A ge = g == n_ ? space_.end() : nodes_[g].begin;
      if (gb < lo) gb = lo;
      if (ge > hi) ge = hi;
      if (ge <= gb || ge - gb < size) continue;
      uint64_t start;
      if (top_down) {
        start = (ge.value() - size) / align * align;
        if (start < gb.value()) continue;
      } else {
        start = align_up(gb.value(), align);
        if (start > ge.value() || ge.value() - start < size) continue;
      }
      if (n_ == N) return PlaceStatus::TableFull;
      out = R{A(start), size};
      return insert_at(g, out);
    }
    return PlaceStatus::NoSpace;
  }

  // Frees the node that starts at begin; false if there is none.
  constexpr bool release(A begin) {
    size_t pos = lower_bound(begin);
    if (pos == n_ || nodes_[pos].begin != begin) return false;
    for (size_t i = pos; i + 1 < n_; ++i) nodes_[i] = nodes_[i + 1];
    --n_;
    return true;
  }

  // Size of the largest gap inside within, for error messages ("fragmented").
  constexpr uint64_t largest_gap(R within) const {
    uint64_t best = 0;
    for (size_t g = 0; g <= n_; ++g) {
      A gb = g == 0 ? space_.begin : nodes_[g - 1].end();
      A ge = g == n_ ? space_.end() : nodes_[g].begin;
      if (gb < within.begin) gb = within.begin;
      if (ge > within.end()) ge = within.end();
      if (ge > gb && ge - gb > best) best = ge - gb;
    }
    return best;
  }

 private:
  constexpr size_t lower_bound(A a) const {
    size_t i = 0;
    while (i < n_ && nodes_[i].begin < a) ++i;
    return i;
  }
  constexpr PlaceStatus insert_at(size_t pos, R r) {
    if (n_ == N) return PlaceStatus::TableFull;
    for (size_t i = n_; i > pos; --i) nodes_[i] = nodes_[i - 1];
    nodes_[pos] = r;
    ++n_;
    return PlaceStatus::Ok;
  }

  R space_{};
  std::array<R, N> nodes_{};
  size_t n_ = 0;
};

}  // namespace vgd
