// Pictures a test renders itself to compare a vGPU's screen with: what the monitor of a guest
// running a workload shows after frame n (the workload's scene drawn linear, the cursor and the
// sprite placed and blended by the test's own arithmetic), and how two pictures differ.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "fb/image.h"
#include "guest/workload_kind.h"
#include "guest/workloads.h"

namespace vgd::test {

using guest::Canvas;
using guest::PixelFormat;

struct Linear {
  std::vector<std::byte> bytes;
  Canvas canvas;
  Linear(uint32_t w, uint32_t h, PixelFormat f) : bytes(size_t{w} * h * 4) {
    guest::Surface s;
    s.width = w, s.height = h, s.format = f, s.tiling = hw::Tiling::Linear;
    s.stride = w * (f == PixelFormat::Yuyv ? 2 : 4);
    canvas = Canvas(bytes.data(), bytes.size(), s);
  }
  uint32_t word(size_t i) const {
    uint32_t v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return v;
  }
};

inline fb::Image opaque_image(const Linear& l, uint32_t w, uint32_t h) {
  fb::Image img{w, h, std::vector<uint32_t>(size_t{w} * h)};
  for (size_t i = 0; i < img.px.size(); ++i) img.px[i] = 0xFF000000u | (l.word(i) & 0xFFFFFFu);
  return img;
}

// Straight alpha over an opaque pixel, rounded to nearest.
inline uint32_t over(uint32_t dst, uint32_t src) {
  const double a = (src >> 24) / 255.0;
  uint32_t out = 0xFF000000u;
  for (int shift = 0; shift < 24; shift += 8) {
    const double c = (src >> shift & 0xFF) * a + (dst >> shift & 0xFF) * (1 - a);
    out |= static_cast<uint32_t>(std::lround(c)) << shift;
  }
  return out;
}

// BT.601 limited range to R'G'B' with the published 8-bit integer coefficients.
inline uint32_t bt601(int y, int u, int v) {
  const int c = y - 16, d = u - 128, e = v - 128;
  const auto clip = [](int x) { return static_cast<uint32_t>(std::clamp(x >> 8, 0, 255)); };
  return 0xFF000000u | clip(298 * c + 409 * e + 128) << 16 | clip(298 * c - 100 * d - 208 * e + 128) << 8 |
         clip(298 * c + 516 * d + 128);
}

inline void desktop_reference(fb::Image& img, uint32_t n) {
  using guest::DesktopWorkload;
  const guest::Point at = DesktopWorkload::cursor_position(n, img.width, img.height);
  for (uint32_t y = 0; y < DesktopWorkload::kCursorSize; ++y)
    for (uint32_t x = 0; x < DesktopWorkload::kCursorSize; ++x) {
      const int64_t sx = at.x + int64_t{x}, sy = at.y + int64_t{y};
      if (sx < 0 || sy < 0 || sx >= img.width || sy >= img.height) continue;
      uint32_t& px = img.at(static_cast<uint32_t>(sx), static_cast<uint32_t>(sy));
      px = over(px, DesktopWorkload::cursor_pixel(x, y));
    }
}

inline void video_reference(fb::Image& img, uint32_t n) {
  using guest::VideoWorkload;
  Linear sprite(VideoWorkload::kWidth, VideoWorkload::kHeight, PixelFormat::Yuyv);
  VideoWorkload::render_sprite(sprite.canvas, n);
  const guest::Point at = VideoWorkload::sprite_position(n, img.width, img.height);
  for (uint32_t y = 0; y < VideoWorkload::kHeight; ++y)
    for (uint32_t x = 0; x < VideoWorkload::kWidth; x += 2) {
      const auto* m = reinterpret_cast<const uint8_t*>(sprite.bytes.data()) + y * VideoWorkload::kWidth * 2 + x * 2;
      img.at(at.x + x, at.y + y) = bt601(m[0], m[1], m[3]);
      img.at(at.x + x + 1, at.y + y) = bt601(m[2], m[1], m[3]);
    }
}

// What the monitor of a guest running w should show after frame n.
inline fb::Image reference(Workload w, uint32_t n, uint32_t width, uint32_t height) {
  Linear screen(width, height, PixelFormat::Xrgb8888);
  switch (w) {
    case Workload::Desktop:
    case Workload::ModeSwitch: guest::DesktopWorkload::render_scene(screen.canvas, n); break;
    case Workload::Console: guest::ConsoleWorkload::render_scene(screen.canvas, n); break;
    case Workload::Video: guest::VideoWorkload::render_background(screen.canvas); break;
  }
  fb::Image img = opaque_image(screen, width, height);
  if (w == Workload::Desktop || w == Workload::ModeSwitch) desktop_reference(img, n);
  if (w == Workload::Video) video_reference(img, n);
  return img;
}

inline size_t differing_pixels(const fb::Image& a, const fb::Image& b, std::string& first) {
  size_t n = 0;
  for (uint32_t y = 0; y < a.height; ++y)
    for (uint32_t x = 0; x < a.width; ++x)
      if ((a.at(x, y) | 0xFF000000u) != (b.at(x, y) | 0xFF000000u) && n++ == 0)
        first = fmt::format("({}, {}): got {:#010x}, want {:#010x}", x, y, a.at(x, y), b.at(x, y));
  return n;
}

}  // namespace vgd::test
