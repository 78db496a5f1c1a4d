// Pixels and cursors in libvncserver's terms. Private to the viewers layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "viewers/frame_grab.h"

struct rfbCursor;

namespace vgd::viewers {

// The server format (rfb_server.cpp): XRGB8888, fb::Image's own order (0xAARRGGBB), with the
// padding byte opaque for clients that copy pixels whole into an RGBA picture.
constexpr uint32_t to_server_pixel(uint32_t argb) { return argb | 0xFF000000u; }
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
