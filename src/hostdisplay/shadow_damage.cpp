#include "hostdisplay/shadow_damage.h"

#include <algorithm>

namespace vgd::hostdisplay {

void Region::add(Rect r) {
  if (whole_ || r.empty()) return;
  if (rects_.size() < kMaxRects) {
    rects_.push_back(r);
    return;
  }
  // Over the bound: everything held and r as one bounding box (64-bit ends: no overflow).
  uint64_t x0 = r.x, y0 = r.y, x1 = uint64_t{r.x} + r.w, y1 = uint64_t{r.y} + r.h;
  for (const Rect& q : rects_) {
    x0 = std::min<uint64_t>(x0, q.x), y0 = std::min<uint64_t>(y0, q.y);
    x1 = std::max(x1, uint64_t{q.x} + q.w), y1 = std::max(y1, uint64_t{q.y} + q.h);
  }
  const auto clamp = [](uint64_t v) { return static_cast<uint32_t>(std::min<uint64_t>(v, UINT32_MAX)); };
  rects_.assign(1, Rect{clamp(x0), clamp(y0), clamp(x1 - x0), clamp(y1 - y0)});
}

void Region::add(const Region& other) {
  if (other.whole_) {
    whole_ = true;
    rects_.clear();
    return;
  }
  for (const Rect& r : other.rects_) add(r);
}

std::vector<Rect> damaged_tiles(const Region& damage, uint32_t width, uint32_t height, uint32_t tile) {
  if (width == 0 || height == 0 || damage.empty()) return {};
  if (damage.whole()) return {Rect{0, 0, width, height}};
  const uint32_t cols = (width + tile - 1) / tile, rows = (height + tile - 1) / tile;
  std::vector<uint8_t> hit(size_t{cols} * rows);
  for (const Rect& r : damage.rects()) {
    if (r.empty() || r.x >= width || r.y >= height) continue;
    const uint32_t x1 = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{r.x} + r.w, width));
    const uint32_t y1 = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{r.y} + r.h, height));
    for (uint32_t ty = r.y / tile; ty * tile < y1; ++ty)
      for (uint32_t tx = r.x / tile; tx * tile < x1; ++tx) hit[size_t{ty} * cols + tx] = 1;
  }
  // Runs in tile units first; a run with the same columns as one that reached the row above
  // grows it instead.
  std::vector<Rect> runs;
  std::vector<size_t> open, next_open;  // runs reaching the row above, then this row
  for (uint32_t ty = 0; ty < rows; ++ty) {
    next_open.clear();
    for (uint32_t tx = 0; tx < cols;) {
      if (!hit[size_t{ty} * cols + tx]) {
        ++tx;
        continue;
      }
      uint32_t end = tx;
      while (end < cols && hit[size_t{ty} * cols + end]) ++end;
      const auto above = std::find_if(open.begin(), open.end(),
                                      [&](size_t i) { return runs[i].x == tx && runs[i].w == end - tx; });
      if (above != open.end()) {
        ++runs[*above].h;
        next_open.push_back(*above);
      } else {
        next_open.push_back(runs.size());
        runs.push_back(Rect{tx, ty, end - tx, 1});
      }
      tx = end;
    }
    std::swap(open, next_open);
  }
  // Tile units to pixels, the last column and row cut to the picture.
  for (Rect& r : runs) {
    const uint32_t x1 = std::min((r.x + r.w) * tile, width), y1 = std::min((r.y + r.h) * tile, height);
    r = Rect{r.x * tile, r.y * tile, x1 - r.x * tile, y1 - r.y * tile};
  }
  return runs;
}

}  // namespace vgd::hostdisplay
