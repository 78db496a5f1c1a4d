// What changed between the picture last sent and the next one, in tiles: a remote display then
// sends only those (a clock ticking in a corner is a few tiles, not a frame). Pure.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace vgd::viewers {

// 16-pixel tiles: the guest's text cells are 8 or 16 pixels, so a changed digit dirties one or
// two tiles (32-pixel tiles would send up to 4x the pixels for it), and QEMU's VNC server tracks
// dirtiness at the same granularity. Runs of tiles are merged into rectangles, so the finer grid
// does not multiply the rectangles (12 bytes of header each in RFB).
inline constexpr uint32_t kTileSize = 16;

struct Rect {
  uint32_t x = 0, y = 0, w = 0, h = 0;
  friend bool operator==(const Rect&, const Rect&) = default;
};

struct Damage {
  std::vector<Rect> rects;  // disjoint, inside the picture; empty when nothing changed
  uint64_t tiles = 0;       // tiles that changed
  bool full = false;        // so much changed that one rectangle covers the whole picture
  bool empty() const { return rects.empty(); }
};

// Above this share of changed tiles one full-picture rectangle is cheaper than many (a flip
// that redraws the screen goes out as one update).
inline constexpr double kFullFraction = 0.5;

// Compares two pictures of width × height pixels (row-major, 32 bits each, both at least
// width × height long): each tile (the last row and column may be smaller) that differs in any
// pixel is damaged. Damaged tiles next to each other in a tile row merge into one rectangle, and
// a rectangle spanning the same columns as one in the tile row above extends it downwards.
Damage diff_tiles(std::span<const uint32_t> prev, std::span<const uint32_t> next, uint32_t width, uint32_t height,
                  uint32_t tile = kTileSize, double full_fraction = kFullFraction);

}  // namespace vgd::viewers
