// The guest's built-in bitmap font: 8x8 cells for printable ASCII (32..126), drawn at any
// integer scale (scale 2 gives the familiar 16-pixel console height). Our own glyph design, kept
// as data so the guest needs no font files and the host-side tests can render the same text.
#pragma once

#include <cstdint>

namespace vgd::guest::font {

inline constexpr uint32_t kWidth = 8;   // pixels per glyph row, the advance too
inline constexpr uint32_t kHeight = 8;  // rows per glyph, the line height at scale 1
inline constexpr char kFirst = ' ';
inline constexpr char kLast = '~';

// kHeight rows of c, top first; bit 7 of a row is its leftmost pixel. Glyphs stand in columns
// 1..5 and rows 0..6 (descenders use row 7), so adjacent cells never touch. Characters outside
// kFirst..kLast draw as '?'.
const uint8_t* glyph(char c);

}  // namespace vgd::guest::font
