// The pictures vgpu-kmstest puts on screen (docs/vm.md, "vgpu-kmstest"), as pure functions of a
// pixel's coordinates inside its own buffer: the program fills its dumb buffers with them and the
// host tests compute what the exported frame must hold from the same functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vgd::kmstest {

// A: the first mode's primary, B and C: the flip buffers, D: the overlay, Cursor: the cursor.
enum class Pattern : uint8_t { A, B, C, D, Cursor };

inline constexpr uint32_t kCursorSize = 64;  // the cursor plane's buffer, width and height

inline constexpr std::string_view pattern_name(Pattern p) {
  constexpr std::string_view names[] = {"A", "B", "C", "D", "cursor"};
  return names[static_cast<uint8_t>(p)];
}

inline constexpr std::optional<Pattern> pattern_named(std::string_view name) {
  for (Pattern p : {Pattern::A, Pattern::B, Pattern::C, Pattern::D, Pattern::Cursor})
    if (pattern_name(p) == name) return p;
  return std::nullopt;
}

// XRGB8888 for A..D (X is 0xff, so the value also reads as opaque ARGB8888): red and green are x
// and y modulo 256, blue holds the pattern's tag in its top three bits and bits 9..8 of x and y
// below, so every pixel of a buffer up to 1024x1024 differs from every other and from the same
// place in another pattern: a frame shifted, scaled or showing the wrong buffer cannot match.
// Cursor: premultiplied ARGB8888, opaque in the triangle x + y < 64 (its tip at the hotspot, so
// a cursor clipped at the top or left loses its tip) and fully transparent (0) elsewhere.
inline constexpr uint32_t pattern_pixel(Pattern p, uint32_t x, uint32_t y) {
  if (p == Pattern::Cursor) {
    if (x >= kCursorSize || y >= kCursorSize || x + y >= kCursorSize) return 0;
    return 0xff000000u | (x * 4) << 16 | (y * 4) << 8 | 0xc0u;
  }
  const uint32_t tag = 0x20u + 0x40u * static_cast<uint32_t>(p);  // 0x20, 0x60, 0xa0, 0xe0
  const uint32_t blue = tag | ((x >> 8) & 3u) << 2 | ((y >> 8) & 3u);
  return 0xff000000u | (x & 0xffu) << 16 | (y & 0xffu) << 8 | blue;
}

// Fills a width x height buffer of 32-bit pixels whose rows start pitch_bytes apart.
inline void fill_pattern(Pattern p, uint32_t* pixels, uint32_t width, uint32_t height, uint32_t pitch_bytes) {
  for (uint32_t y = 0; y < height; ++y) {
    uint32_t* row = pixels + static_cast<uint64_t>(y) * (pitch_bytes / 4);
    for (uint32_t x = 0; x < width; ++x) row[x] = pattern_pixel(p, x, y);
  }
}

}  // namespace vgd::kmstest
