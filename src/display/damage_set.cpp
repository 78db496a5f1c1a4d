#include "display/damage_set.h"

#include <algorithm>

namespace vgd::display {

DamageRect clip(DamageRect r, uint32_t width, uint32_t height) {
  if (r.empty() || r.x >= width || r.y >= height) return {};
  // 64-bit ends: a guest's x + w never wraps.
  const uint64_t x1 = std::min<uint64_t>(uint64_t{r.x} + r.w, width);
  const uint64_t y1 = std::min<uint64_t>(uint64_t{r.y} + r.h, height);
  return {r.x, r.y, static_cast<uint32_t>(x1 - r.x), static_cast<uint32_t>(y1 - r.y)};
}

DamageRect bounding(DamageRect a, DamageRect b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  const uint32_t x0 = std::min(a.x, b.x), y0 = std::min(a.y, b.y);
  const uint32_t x1 = std::max(a.x + a.w, b.x + b.w), y1 = std::max(a.y + a.h, b.y + b.h);
  return {x0, y0, x1 - x0, y1 - y0};
}

bool contains(DamageRect a, DamageRect b) {
  return b.x >= a.x && b.y >= a.y && b.x + b.w <= a.x + a.w && b.y + b.h <= a.y + a.h;
}

void DamageSet::add(DamageRect r) {
  if (whole_ || r.empty()) return;
  for (uint8_t i = 0; i < count_; ++i)
    if (contains(rects_[i], r)) return;
  const auto end = std::remove_if(rects_.begin(), rects_.begin() + count_, [&](const DamageRect& q) { return contains(r, q); });
  count_ = static_cast<uint8_t>(end - rects_.begin());
  if (count_ < kMaxDamageRects) {
    rects_[count_++] = r;
    return;
  }
  DamageRect box = r;
  for (const DamageRect& q : rects()) box = bounding(box, q);
  rects_[0] = box;
  count_ = 1;
}

void DamageSet::merge(const DamageSet& other) {
  if (other.whole_) return mark_whole();
  for (const DamageRect& r : other.rects()) add(r);
}

}  // namespace vgd::display
