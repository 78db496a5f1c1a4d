// Pixels and cursors in libvncserver's terms. Private to the viewers layer.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "viewers/frame_grab.h"

struct rfbCursor;

namespace vgd::viewers {

// The server format libvncserver sets up for 8 bits × 3 samples in 4 bytes on a little-endian
// host: red in bits 0–7, green 8–15, blue 16–23 (fb::Image holds 0xAARRGGBB).
static_assert(std::endian::native == std::endian::little);
constexpr uint32_t to_server_pixel(uint32_t argb) {
  return ((argb >> 16) & 0xFFu) | (argb & 0xFF00u) | ((argb & 0xFFu) << 16);
}
void to_server_pixels(const uint32_t* argb, uint32_t* out, size_t n);

// A rich cursor with its alpha (libvncserver blends with it when it draws the cursor into the
// picture for clients that take no cursor shape) and a mask of the pixels at least half opaque
// (what the rich-cursor encoding can say). Its cleanup flag is off: the caller owns it.
rfbCursor* make_cursor(const CursorImage& c);
void free_cursor(rfbCursor* c);  // null is fine

// RFB positions are unsigned and inside the screen: a pointer whose tip is off an edge cannot be
// placed (libvncserver would clamp it, shifting the cursor). The cursor cropped to what is on
// screen instead, its hotspot moved inside; nullopt when none of it is on screen.
std::optional<CursorImage> placeable(CursorImage c, uint32_t screen_w, uint32_t screen_h);

}  // namespace vgd::viewers
