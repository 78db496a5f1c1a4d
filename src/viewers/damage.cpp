#include "viewers/damage.h"

#include <algorithm>
#include <cstring>

namespace vgd::viewers {

Damage diff_tiles(std::span<const uint32_t> prev, std::span<const uint32_t> next, uint32_t width, uint32_t height,
                  uint32_t tile, double full_fraction) {
  Damage d;
  const size_t pixels = size_t{width} * height;
  if (width == 0 || height == 0 || tile == 0 || prev.size() < pixels || next.size() < pixels) return d;
  const uint32_t cols = (width + tile - 1) / tile, rows = (height + tile - 1) / tile;
  std::vector<uint8_t> dirty(cols);
  std::vector<Rect> above;  // rectangles that ended at the previous tile row, open to extension
  std::vector<size_t> above_index;
  for (uint32_t ty = 0; ty < rows; ++ty) {
    std::fill(dirty.begin(), dirty.end(), 0);
    const uint32_t y0 = ty * tile, y1 = std::min(height, y0 + tile);
    for (uint32_t y = y0; y < y1; ++y) {
      const uint32_t* a = prev.data() + size_t{y} * width;
      const uint32_t* b = next.data() + size_t{y} * width;
      // Most rows are unchanged: one comparison of the whole row settles them.
      if (std::memcmp(a, b, size_t{width} * 4) == 0) continue;
      for (uint32_t tx = 0; tx < cols; ++tx) {
        if (dirty[tx]) continue;
        const uint32_t x0 = tx * tile, n = std::min(width, x0 + tile) - x0;
        if (std::memcmp(a + x0, b + x0, size_t{n} * 4) != 0) dirty[tx] = 1;
      }
    }
    std::vector<Rect> here;
    std::vector<size_t> here_index;
    for (uint32_t tx = 0; tx < cols;) {
      if (!dirty[tx]) {
        ++tx;
        continue;
      }
      uint32_t end = tx;
      while (end < cols && dirty[end]) ++end;
      d.tiles += end - tx;
      const uint32_t x0 = tx * tile, x1 = std::min(width, end * tile);
      const Rect run{x0, y0, x1 - x0, y1 - y0};
      const auto it = std::find_if(above.begin(), above.end(), [&](const Rect& r) { return r.x == run.x && r.w == run.w; });
      if (it != above.end()) {
        const size_t i = above_index[static_cast<size_t>(it - above.begin())];
        d.rects[i].h += run.h;
        here.push_back(d.rects[i]);
        here_index.push_back(i);
      } else {
        d.rects.push_back(run);
        here.push_back(run);
        here_index.push_back(d.rects.size() - 1);
      }
      tx = end;
    }
    above = std::move(here);
    above_index = std::move(here_index);
  }
  if (d.tiles > 0 && static_cast<double>(d.tiles) > full_fraction * static_cast<double>(uint64_t{cols} * rows)) {
    d.rects = {Rect{0, 0, width, height}};
    d.full = true;
  }
  return d;
}

}  // namespace vgd::viewers
