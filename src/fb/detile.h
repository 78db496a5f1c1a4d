// Tiled -> linear copy of a window of a surface (docs/hardware.md, Tiling). The window is what a
// plane shows: x/y offset inside the surface (PLANE_OFFSET) and the plane's size, in pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hw/formats.h"
#include "util/expected.h"

namespace vgd::fb {

struct TiledSurface {
  std::span<const std::byte> bytes;  // the surface from its first tile, in GM order
  hw::Tiling tiling = hw::Tiling::Linear;
  uint32_t cpp = 0;     // bytes per pixel
  uint32_t stride = 0;  // bytes per row of pixels, a whole number of tiles
};

struct Window {
  uint32_t x = 0, y = 0;  // first pixel, row
  uint32_t width = 0, height = 0;
};

// Why win cannot be read from s (unknown layout, bad stride, outside the bytes), or nothing.
std::optional<std::string> check_window(const TiledSurface& s, const Window& win);

// Copies win into dst as win.height rows of win.width * cpp bytes, dst_stride bytes apart.
// Precondition: check_window(s, win) found nothing and dst holds all those rows.
void detile_into(const TiledSurface& s, const Window& win, std::byte* dst, size_t dst_stride);

// Both, into a new buffer of packed rows (win.width * cpp bytes each).
Expected<std::vector<std::byte>, std::string> detile(const TiledSurface& s, const Window& win);

}  // namespace vgd::fb
