#include "viewers/damage.h"

#include <algorithm>
#include <cstring>

namespace vgd::viewers {

namespace {

// `candidates` (cols × rows, or null for all): the tiles worth comparing.
Damage diff(std::span<const uint32_t> prev, std::span<const uint32_t> next, uint32_t width, uint32_t height,
            uint32_t tile, double full_fraction, const std::vector<uint8_t>* candidates) {
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
      if (!candidates && std::memcmp(a, b, size_t{width} * 4) == 0) continue;
      for (uint32_t tx = 0; tx < cols; ++tx) {
        if (dirty[tx] || (candidates && !(*candidates)[size_t{ty} * cols + tx])) continue;
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

}  // namespace

Damage diff_tiles(std::span<const uint32_t> prev, std::span<const uint32_t> next, uint32_t width, uint32_t height,
                  uint32_t tile, double full_fraction) {
  return diff(prev, next, width, height, tile, full_fraction, nullptr);
}

Damage diff_tiles_within(std::span<const uint32_t> prev, std::span<const uint32_t> next, uint32_t width,
                         uint32_t height, std::span<const Rect> within, uint32_t tile, double full_fraction) {
  if (width == 0 || height == 0 || tile == 0) return {};
  const uint32_t cols = (width + tile - 1) / tile, rows = (height + tile - 1) / tile;
  std::vector<uint8_t> candidates(size_t{cols} * rows);
  for (const Rect& r : within) {
    if (r.w == 0 || r.h == 0 || r.x >= width || r.y >= height) continue;
    const auto x1 = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{r.x} + r.w, width));
    const auto y1 = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{r.y} + r.h, height));
    for (uint32_t ty = r.y / tile; ty * tile < y1; ++ty)
      for (uint32_t tx = r.x / tile; tx * tile < x1; ++tx) candidates[size_t{ty} * cols + tx] = 1;
  }
  return diff(prev, next, width, height, tile, full_fraction, &candidates);
}

namespace {
// r (at x, y on the screen) cut to the screen; nullopt when nothing of it is on it.
std::optional<Rect> on_screen(int64_t x, int64_t y, uint64_t w, uint64_t h, uint32_t width, uint32_t height) {
  const int64_t x0 = std::max<int64_t>(x, 0), y0 = std::max<int64_t>(y, 0);
  const int64_t x1 = std::min<int64_t>(x + static_cast<int64_t>(w), width);
  const int64_t y1 = std::min<int64_t>(y + static_cast<int64_t>(h), height);
  if (x0 >= x1 || y0 >= y1) return std::nullopt;
  return Rect{static_cast<uint32_t>(x0), static_cast<uint32_t>(y0), static_cast<uint32_t>(x1 - x0),
              static_cast<uint32_t>(y1 - y0)};
}
}  // namespace

std::optional<std::vector<Rect>> hinted_screen_rects(const PlaneHints& primary, const PlaneHints& sprite,
                                                     std::optional<Placement> sprite_now,
                                                     std::optional<Placement> sprite_before, uint32_t width,
                                                     uint32_t height) {
  if (!primary.hinted || primary.whole || ((sprite_now || sprite_before) && !sprite.hinted)) return std::nullopt;
  std::vector<Rect> out;
  const auto add = [&](std::optional<Rect> r) {
    if (r) out.push_back(*r);
  };
  for (const Rect& r : primary.rects) add(on_screen(r.x, r.y, r.w, r.h, width, height));
  if (sprite_now != sprite_before) {
    for (const auto& p : {sprite_now, sprite_before})
      if (p) add(on_screen(p->x, p->y, p->w, p->h, width, height));
  } else if (sprite_now && sprite.whole) {
    add(on_screen(sprite_now->x, sprite_now->y, sprite_now->w, sprite_now->h, width, height));
  } else if (sprite_now) {
    for (const Rect& r : sprite.rects) add(on_screen(int64_t{sprite_now->x} + r.x, int64_t{sprite_now->y} + r.y, r.w, r.h, width, height));
  }
  return out;
}

}  // namespace vgd::viewers
