// What changed between the picture last sent and the next one, in tiles: a remote display then
// sends only those (a clock ticking in a corner is a few tiles, not a frame). Pure.
#pragma once

#include <cstdint>
#include <optional>
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
// The same, comparing only the tiles that meet one of `within` (the guest's damage hints: what
// it says changed); tiles elsewhere count as unchanged.
Damage diff_tiles_within(std::span<const uint32_t> prev, std::span<const uint32_t> next, uint32_t width,
                         uint32_t height, std::span<const Rect> within, uint32_t tile = kTileSize,
                         double full_fraction = kFullFraction);

// One plane's damage hints as the daemon gave them (docs/protocol.md §3.9), in its own pixels.
struct PlaneHints {
  bool hinted = false;  // false: no hints, compare pixels
  bool whole = false;
  std::vector<Rect> rects;
};
// Where a plane lies on the screen (a sprite may hang off its edges).
struct Placement {
  int32_t x = 0, y = 0;
  uint32_t w = 0, h = 0;
  friend bool operator==(const Placement&, const Placement&) = default;
};

// The screen rectangles (width × height) whose pixels may have changed, from the hints of the
// primary (its pixels are the screen's) and of the sprite (shown at `sprite_now`, and at
// `sprite_before` in the last picture; nullopt: off). A sprite that moved, appeared or went
// adds where it was and where it is. nullopt when a plane has no hints or the primary changed
// whole: then only comparing every tile will do.
std::optional<std::vector<Rect>> hinted_screen_rects(const PlaneHints& primary, const PlaneHints& sprite,
                                                     std::optional<Placement> sprite_now,
                                                     std::optional<Placement> sprite_before, uint32_t width,
                                                     uint32_t height);

}  // namespace vgd::viewers
