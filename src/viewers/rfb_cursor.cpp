#include "viewers/rfb_cursor.h"

#include <algorithm>
#include <cstdlib>

#include <rfb/rfb.h>

namespace vgd::viewers {

void to_server_pixels(const uint32_t* argb, uint32_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = to_server_pixel(argb[i]);
}

rfbCursor* make_cursor(const CursorImage& c) {
  // RFB sizes are 16-bit; a guest cursor is at most 256 pixels square.
  const uint32_t w = std::min<uint32_t>(c.image.width, 0xFFFF), h = std::min<uint32_t>(c.image.height, 0xFFFF);
  if (w == 0 || h == 0) return nullptr;
  const size_t n = size_t{w} * h, row_bytes = (w + 7) / 8;
  auto* cur = static_cast<rfbCursor*>(std::calloc(1, sizeof(rfbCursor)));
  auto* rich = static_cast<uint32_t*>(std::malloc(n * 4));
  auto* alpha = static_cast<unsigned char*>(std::malloc(n));
  auto* mask = static_cast<unsigned char*>(std::calloc(row_bytes * h, 1));
  if (!cur || !rich || !alpha || !mask) {
    std::free(cur), std::free(rich), std::free(alpha), std::free(mask);
    return nullptr;
  }
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x) {
      const uint32_t p = c.image.px[size_t{y} * c.image.width + x];
      const size_t i = size_t{y} * w + x;
      rich[i] = to_server_pixel(p);
      alpha[i] = static_cast<unsigned char>(p >> 24);
      if ((p >> 24) >= 0x80) mask[y * row_bytes + x / 8] |= static_cast<unsigned char>(0x80u >> (x % 8));
    }
  cur->width = static_cast<unsigned short>(w);
  cur->height = static_cast<unsigned short>(h);
  cur->xhot = static_cast<unsigned short>(std::min(c.hot_x, w - 1));
  cur->yhot = static_cast<unsigned short>(std::min(c.hot_y, h - 1));
  cur->richSource = reinterpret_cast<unsigned char*>(rich);
  cur->alphaSource = alpha;
  cur->alphaPreMultiplied = FALSE;
  cur->mask = mask;
  // For clients that take only the two-colour X cursor libvncserver derives one (bright pixels
  // in the foreground colour) and stores it in `source`, which cleanupSource lets it go with.
  cur->foreRed = cur->foreGreen = cur->foreBlue = 0xFFFF;
  cur->backRed = cur->backGreen = cur->backBlue = 0;
  cur->cleanup = FALSE;
  cur->cleanupSource = cur->cleanupMask = cur->cleanupRichSource = TRUE;
  return cur;
}

// RFB positions are unsigned and inside the screen: a pointer whose tip is off an edge cannot be
// placed (libvncserver would clamp it and shift the picture). Crop the image to what is on the
// screen instead, with the hotspot moved to stay inside: what viewers see stays exact.
std::optional<CursorImage> placeable(CursorImage c, uint32_t screen_w, uint32_t screen_h) {
  auto crop = [&c](uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1) {
    fb::Image out;
    out.width = x1 - x0;
    out.height = y1 - y0;
    out.px.reserve(size_t{out.width} * out.height);
    for (uint32_t y = y0; y < y1; ++y)
      for (uint32_t x = x0; x < x1; ++x) out.px.push_back(c.image.at(x, y));
    c.x += static_cast<int32_t>(x0);
    c.y += static_cast<int32_t>(y0);
    c.image = std::move(out);
  };
  const auto w = static_cast<int64_t>(c.image.width), h = static_cast<int64_t>(c.image.height);
  const int64_t sw = screen_w, sh = screen_h;
  if (c.x + w <= 0 || c.y + h <= 0 || c.x >= sw || c.y >= sh) return std::nullopt;  // all off screen
  if (c.pointer_x() < 0) {
    crop(static_cast<uint32_t>(-c.x), 0, c.image.width, c.image.height);
    c.hot_x = 0;
  } else if (c.pointer_x() >= sw) {
    crop(0, 0, static_cast<uint32_t>(sw - c.x), c.image.height);
    c.hot_x = c.image.width - 1;
  }
  if (c.pointer_y() < 0) {
    crop(0, static_cast<uint32_t>(-c.y), c.image.width, c.image.height);
    c.hot_y = 0;
  } else if (c.pointer_y() >= sh) {
    crop(0, 0, c.image.width, static_cast<uint32_t>(sh - c.y));
    c.hot_y = c.image.height - 1;
  }
  return c;
}

void free_cursor(rfbCursor* c) {
  if (!c) return;
  c->cleanup = TRUE;  // rfbFreeCursor then frees the struct too
  rfbFreeCursor(c);
}

}  // namespace vgd::viewers
