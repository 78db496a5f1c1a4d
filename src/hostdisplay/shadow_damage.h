// What changed in a guest plane's picture, as the direct-flip engine hands it to a shadow
// (docs/direct-flip.md, Shadow framebuffers): rectangles in the plane's own pixels (from the
// guest's damage hints), or the whole picture. Unions over several flips are what a shadow
// that missed them needs; the refill copies the damaged tiles of the union. Pure.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace vgd::hostdisplay {

struct Rect {
  uint32_t x = 0, y = 0, w = 0, h = 0;
  bool empty() const { return w == 0 || h == 0; }
  friend bool operator==(const Rect&, const Rect&) = default;
};

class Region {
 public:
  // Past this many rectangles a union becomes its bounding box: area is only over-reported.
  static constexpr size_t kMaxRects = 64;

  static Region whole_picture() {
    Region r;
    r.whole_ = true;
    return r;
  }
  bool whole() const { return whole_; }
  bool empty() const { return !whole_ && rects_.empty(); }
  std::span<const Rect> rects() const { return rects_; }

  void add(Rect r);
  void add(const Region& other);

 private:
  bool whole_ = false;
  std::vector<Rect> rects_;
};

// Tiles of 32 × 32 pixels: a Y tile at 4 bytes per pixel, a quarter of an X tile's row. A
// changed glyph or cursor-sized area is one to four of them.
inline constexpr uint32_t kRefillTile = 32;

// The tiles of a width × height picture that meet `damage`, as rectangles clipped to the picture:
// runs of tiles in a tile row, extended downwards while the row below has the same run. Each
// damaged pixel is in exactly one rectangle (overlapping damage is copied once).
std::vector<Rect> damaged_tiles(const Region& damage, uint32_t width, uint32_t height, uint32_t tile = kRefillTile);

}  // namespace vgd::hostdisplay
