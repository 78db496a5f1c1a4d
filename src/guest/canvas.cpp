#include "guest/canvas.h"

#include <algorithm>
#include <cstring>

#include "guest/font.h"

namespace vgd::guest {

namespace {

constexpr bool is_422(PixelFormat f) { return f == PixelFormat::Yuyv || f == PixelFormat::Uyvy; }

// [lo, hi) of an interval [a, a + len) that lies inside [0, limit); empty when lo >= hi.
struct Span {
  uint32_t lo = 0, hi = 0;
};
Span clip(int64_t a, int64_t len, uint32_t limit) {
  const int64_t lo = std::max<int64_t>(a, 0), hi = std::min<int64_t>(a + len, limit);
  return lo < hi ? Span{static_cast<uint32_t>(lo), static_cast<uint32_t>(hi)} : Span{};
}

// Repeats a 4-byte pattern over len bytes; callers start at a multiple of the pattern's period.
void write_pattern(std::byte* p, uint32_t len, uint32_t pattern) {
  uint32_t i = 0;
  for (; i + 4 <= len; i += 4) std::memcpy(p + i, &pattern, 4);
  std::memcpy(p + i, &pattern, len - i);
}

// Channel-wise a + (b - a) · i / n, alpha included.
uint32_t lerp(uint32_t a, uint32_t b, int64_t i, int64_t n) {
  if (n <= 0) return a;
  uint32_t out = 0;
  for (uint32_t shift = 0; shift < 32; shift += 8) {
    const int64_t ca = a >> shift & 0xFF, cb = b >> shift & 0xFF;
    out |= static_cast<uint32_t>(ca + (cb - ca) * i / n) << shift;
  }
  return out;
}

}  // namespace

Yuv rgb_to_yuv(uint32_t argb) {
  const int r = static_cast<int>(argb >> 16 & 0xFF), g = static_cast<int>(argb >> 8 & 0xFF),
            b = static_cast<int>(argb & 0xFF);
  // C++20 defines >> of a negative value as arithmetic, i.e. floor division by 256.
  return {static_cast<uint8_t>(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16),
          static_cast<uint8_t>(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128),
          static_cast<uint8_t>(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128)};
}

uint32_t pixel_pattern(PixelFormat f, uint32_t argb) {
  const uint32_t r = argb >> 16 & 0xFF, g = argb >> 8 & 0xFF, b = argb & 0xFF;
  const auto ten = [](uint32_t c) { return c << 2 | c >> 6; };  // 8 -> 10 bits, full scale kept
  switch (f) {
    case PixelFormat::Xrgb8888: return argb | 0xFF000000u;
    case PixelFormat::Argb8888: return argb;
    case PixelFormat::Xbgr8888: return 0xFF000000u | b << 16 | g << 8 | r;
    case PixelFormat::Xrgb2101010: return 3u << 30 | ten(r) << 20 | ten(g) << 10 | ten(b);
    case PixelFormat::Rgb565: {
      const uint32_t p = (r >> 3) << 11 | (g >> 2) << 5 | b >> 3;
      return p | p << 16;
    }
    case PixelFormat::Yuyv:
    case PixelFormat::Uyvy: {
      const Yuv c = rgb_to_yuv(argb);
      const uint32_t y = c.y, u = c.u, v = c.v;
      return f == PixelFormat::Yuyv ? y | u << 8 | y << 16 | v << 24 : u | y << 8 | v << 16 | y << 24;
    }
    case PixelFormat::C8: return 0x01010101u * ((77 * r + 150 * g + 29 * b + 128) >> 8);
  }
  return 0;
}

Canvas::Canvas(RamPort& ram, const Surface& s) : Canvas(ram.at(s.buffer.gpa, s.buffer.size), s.buffer.size, s) {}

Canvas::Canvas(std::byte* bytes, uint64_t len, const Surface& s) {
  uint32_t tile_width = 0, tile_rows = 1, run = s.stride;
  switch (s.tiling) {
    case hw::Tiling::Linear: break;
    case hw::Tiling::X: tile_width = 512, tile_rows = 8, run = 512; break;  // whole 512-byte rows
    case hw::Tiling::Y: tile_width = 128, tile_rows = 32, run = 16; break;  // 16-byte column rows
    default: return;
  }
  const uint32_t cpp = bytes_per_pixel(s.format);
  const uint64_t used = uint64_t{s.width + (is_422(s.format) ? s.width % 2 : 0)} * cpp;
  if (bytes == nullptr || s.width == 0 || s.height == 0 || s.stride < used) return;
  if (tile_width != 0 && s.stride % tile_width != 0) return;
  if (uint64_t{s.stride} * align_up(s.height, tile_rows) > len) return;
  s_ = s;
  base_ = bytes;
  cpp_ = cpp;
  run_bytes_ = run;
  tiles_per_row_ = tile_width ? s.stride / tile_width : 0;
}

uint64_t Canvas::byte_offset(uint32_t bx, uint32_t y) const {
  constexpr uint64_t kTile = 4096;
  switch (s_.tiling) {
    case hw::Tiling::X:  // 8 rows of 512 bytes, one after another
      return (uint64_t{y >> 3} * tiles_per_row_ + (bx >> 9)) * kTile + (y & 7) * 512 + (bx & 511);
    case hw::Tiling::Y:  // 8 columns of 16 bytes × 32 rows
      return (uint64_t{y >> 5} * tiles_per_row_ + (bx >> 7)) * kTile + ((bx & 127) >> 4) * 512 + (y & 31) * 16 +
             (bx & 15);
    default: return uint64_t{y} * s_.stride + bx;
  }
}

uint32_t Canvas::row_bytes() const { return (s_.width + (is_422(s_.format) ? s_.width % 2 : 0)) * cpp_; }

// Calls f(pointer, first byte column, length) for each contiguous piece of row y's byte columns
// [bx0, bx1): one piece for linear, one per tile row (X) or 16-byte column (Y) otherwise. Pieces
// start at multiples of 16 bytes, so no pixel or macropixel is ever split.
template <class F>
void Canvas::for_each_run(uint32_t y, uint32_t bx0, uint32_t bx1, F&& f) const {
  for (uint32_t bx = bx0; bx < bx1;) {
    const uint32_t end = std::min(bx1, (bx / run_bytes_ + 1) * run_bytes_);
    f(base_ + byte_offset(bx, y), bx, end - bx);
    bx = end;
  }
}

void Canvas::put(int32_t x, int32_t y, uint32_t argb) {
  if (!valid() || x < 0 || y < 0 || static_cast<uint32_t>(x) >= width() || static_cast<uint32_t>(y) >= height()) return;
  const uint32_t ux = static_cast<uint32_t>(x), uy = static_cast<uint32_t>(y);
  if (!is_422(s_.format)) {
    const uint32_t p = pixel_pattern(s_.format, argb);
    std::memcpy(base_ + byte_offset(ux * cpp_, uy), &p, cpp_);
    return;
  }
  // The pair's macropixel: this pixel's Y, and U/V (shared with the neighbour) from its colour.
  std::byte* m = base_ + byte_offset((ux & ~1u) * 2, uy);
  const Yuv c = rgb_to_yuv(argb);
  const uint32_t first_y = s_.format == PixelFormat::Yuyv ? 0 : 1, u = 1 - first_y;
  m[first_y + (ux & 1) * 2] = std::byte{c.y};
  m[u] = std::byte{c.u};
  m[u + 2] = std::byte{c.v};
}

void Canvas::fill_span(uint32_t y, uint32_t x0, uint32_t x1, uint32_t argb) {
  if (is_422(s_.format)) {  // half-covered macropixels at either end go pixel by pixel
    if (x0 % 2 != 0) put(static_cast<int32_t>(x0++), static_cast<int32_t>(y), argb);
    if (x1 > x0 && x1 % 2 != 0) put(static_cast<int32_t>(--x1), static_cast<int32_t>(y), argb);
  }
  if (x0 >= x1) return;
  const uint32_t pattern = pixel_pattern(s_.format, argb);
  for_each_run(y, x0 * cpp_, x1 * cpp_, [&](std::byte* p, uint32_t, uint32_t len) { write_pattern(p, len, pattern); });
}

void Canvas::fill_rect(int32_t x, int32_t y, int32_t w, int32_t h, uint32_t argb) {
  if (!valid()) return;
  const Span cols = clip(x, w, width()), rows = clip(y, h, height());
  if (cols.lo >= cols.hi) return;
  for (uint32_t r = rows.lo; r < rows.hi; ++r) fill_span(r, cols.lo, cols.hi, argb);
}

void Canvas::clear(uint32_t argb) {
  fill_rect(0, 0, static_cast<int32_t>(width()), static_cast<int32_t>(height()), argb);
}

void Canvas::vgradient(int32_t x, int32_t y, int32_t w, int32_t h, uint32_t top, uint32_t bottom) {
  const Span rows = clip(y, h, height());
  for (uint32_t r = rows.lo; r < rows.hi; ++r)
    fill_rect(x, static_cast<int32_t>(r), w, 1, lerp(top, bottom, int64_t{r} - y, int64_t{h} - 1));
}

int32_t Canvas::draw_text(int32_t x, int32_t y, const char* text, uint32_t argb, uint32_t scale) {
  const int32_t s = static_cast<int32_t>(std::max(scale, 1u));
  for (; *text != '\0'; ++text, x += static_cast<int32_t>(font::kWidth) * s) {
    const uint8_t* g = font::glyph(*text);
    for (int32_t r = 0; r < static_cast<int32_t>(font::kHeight); ++r) {
      // Each horizontal run of lit pixels is one rectangle: whole-row fills, even when scaled.
      for (int32_t c = 0; c < static_cast<int32_t>(font::kWidth);) {
        int32_t e = c;
        while (e < static_cast<int32_t>(font::kWidth) && (g[r] >> (7 - e) & 1) != 0) ++e;
        if (e > c) fill_rect(x + c * s, y + r * s, (e - c) * s, s, argb);
        c = e + 1;
      }
    }
  }
  return x;
}

uint32_t Canvas::text_width(const char* text, uint32_t scale) {
  return static_cast<uint32_t>(std::strlen(text)) * font::kWidth * std::max(scale, 1u);
}

void Canvas::blit(int32_t x, int32_t y, const uint32_t* px, uint32_t w, uint32_t h, Blend b) {
  for (uint32_t j = 0; j < h; ++j)
    for (uint32_t i = 0; i < w; ++i) {
      const uint32_t p = px[size_t{j} * w + i];
      if (b == Blend::Copy || (p >> 24) != 0)
        put(x + static_cast<int32_t>(i), y + static_cast<int32_t>(j), p);
    }
}

void Canvas::move_rows(uint32_t dst_y, uint32_t src_y, uint32_t rows) {
  if (!valid() || dst_y >= height() || src_y >= height()) return;
  rows = std::min(rows, height() - std::max(dst_y, src_y));
  // Both rows split into the same pieces (same byte columns), so piece-wise copies suffice.
  const auto copy_row = [&](uint32_t i) {
    for_each_run(dst_y + i, 0, row_bytes(), [&](std::byte* d, uint32_t bx, uint32_t len) {
      std::memmove(d, base_ + byte_offset(bx, src_y + i), len);
    });
  };
  if (dst_y <= src_y) {
    for (uint32_t i = 0; i < rows; ++i) copy_row(i);
  } else {
    for (uint32_t i = rows; i-- > 0;) copy_row(i);
  }
}

}  // namespace vgd::guest
