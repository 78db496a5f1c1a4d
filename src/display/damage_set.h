// Damage of one plane (docs/hardware.md, Damage hints): which rectangles of it changed, in the
// plane's own pixel coordinates (0,0 = its top-left shown pixel). Bounded: at most
// kMaxDamageRects rectangles; one more merges them all into their bounding box, so area is
// never lost, only over-reported. "Whole" means the whole plane, whatever its size now. Pure.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace vgd::display {

struct DamageRect {
  uint32_t x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w == 0 || h == 0; }
  friend bool operator==(const DamageRect&, const DamageRect&) = default;
};

inline constexpr uint32_t kMaxDamageRects = 16;

// r cut to a plane of width × height (empty when it lies outside).
DamageRect clip(DamageRect r, uint32_t width, uint32_t height);
// The smallest rectangle holding both (an empty one counts as nothing).
DamageRect bounding(DamageRect a, DamageRect b);
// a holds every pixel of b.
bool contains(DamageRect a, DamageRect b);

class DamageSet {
 public:
  static DamageSet whole_plane() {
    DamageSet d;
    d.mark_whole();
    return d;
  }
  bool whole() const { return whole_; }
  bool empty() const { return !whole_ && count_ == 0; }
  std::span<const DamageRect> rects() const { return {rects_.data(), count_}; }

  // Adds one rectangle: an empty one, or one inside a rectangle already held, changes nothing;
  // ones it covers go; past the bound everything becomes one bounding box.
  void add(DamageRect r);
  void merge(const DamageSet& other);
  void mark_whole() {
    whole_ = true;
    count_ = 0;
  }
  void clear() { *this = DamageSet{}; }

 private:
  std::array<DamageRect, kMaxDamageRects> rects_{};
  uint8_t count_ = 0;
  bool whole_ = false;
};

}  // namespace vgd::display
