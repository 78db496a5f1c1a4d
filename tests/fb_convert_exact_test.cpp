// The fast conversion loops (16-bit lanes, SSE2 for packed YUV, bit tricks for RGB) must give
// exactly what the per-pixel formulas give, for every input value and wherever a row starts or
// ends (vector blocks, scalar tails, windows starting mid-macropixel). The references here are
// written from the formulas in the format descriptions, not taken from the library.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "fb/convert.h"
#include "hw/formats.h"

namespace vgd::fb {
namespace {

namespace drm = hw::drm;

uint32_t argb(uint32_t a, uint32_t r, uint32_t g, uint32_t b) { return a << 24 | r << 16 | g << 8 | b; }

// BT.601 limited range in 8.8 fixed point: 298, 409, 100, 208, 516 over 256, rounded, clamped.
uint32_t ref_yuv(int y, int u, int v) {
  const int c = 298 * (y - 16), d = u - 128, e = v - 128;
  const auto clamp8 = [](int x) { return static_cast<uint32_t>(std::clamp((x + 128) >> 8, 0, 255)); };
  return argb(0xFF, clamp8(c + 409 * e), clamp8(c - 100 * d - 208 * e), clamp8(c + 516 * d));
}

uint32_t ref_packed(uint32_t fourcc, const std::byte* p) {
  uint32_t v = 0;
  for (uint32_t k = 0; k < format_cpp(fourcc); ++k) v |= std::to_integer<uint32_t>(p[k]) << 8 * k;
  const auto expand = [](uint32_t c, int bits) { return c << (8 - bits) | c >> (2 * bits - 8); };
  switch (fourcc) {
    case drm::kXRGB8888: return v | 0xFF000000u;
    case drm::kARGB8888: return v;
    case drm::kXBGR8888: return argb(0xFF, v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF);
    case drm::kABGR8888: return argb(v >> 24, v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF);
    case drm::kXRGB2101010: return argb(0xFF, v >> 22 & 0xFF, v >> 12 & 0xFF, v >> 2 & 0xFF);
    case drm::kXBGR2101010: return argb(0xFF, v >> 2 & 0xFF, v >> 12 & 0xFF, v >> 22 & 0xFF);
    case drm::kRGB565: return argb(0xFF, expand(v >> 11, 5), expand(v >> 5 & 0x3F, 6), expand(v & 0x1F, 5));
    case drm::kC8: return 0xFF000000u | 0x010101u * v;
  }
  return 0;
}

struct YuvOrder {
  uint32_t fourcc;
  int y0, u, y1, v;  // byte positions in the macropixel
};
constexpr YuvOrder kYuvOrders[] = {
    {drm::kYUYV, 0, 1, 2, 3}, {drm::kUYVY, 1, 0, 3, 2}, {drm::kYVYU, 0, 3, 2, 1}, {drm::kVYUY, 1, 2, 3, 0}};

uint32_t ref_pixel(uint32_t fourcc, const std::vector<std::byte>& row, uint32_t x) {
  for (const YuvOrder& o : kYuvOrders) {
    if (o.fourcc != fourcc) continue;
    const auto at = [&](int pos) { return std::to_integer<int>(row[x / 2 * 4 + static_cast<uint32_t>(pos)]); };
    return ref_yuv(at(x % 2 == 0 ? o.y0 : o.y1), at(o.u), at(o.v));
  }
  return ref_packed(fourcc, row.data() + size_t{x} * format_cpp(fourcc));
}

uint32_t as(Output out, uint32_t argb_px) { return out == Output::Xrgb ? argb_px & 0x00FFFFFFu : argb_px; }

TEST(ConvertExact, YuvEveryInputMatchesTheFormula) {
  // One row per (U, V): 128 macropixels whose two Y bytes run through 0..255, converted whole (the
  // vector path) and compared with the reference. Every (U, V) for YUYV to XRGB (the arithmetic);
  // every 5th U and V for the other byte orders and ARGB (where bytes are read and written).
  for (const YuvOrder& o : kYuvOrders) {
    for (const Output out : {Output::Xrgb, Output::Argb}) {
      const int step = o.fourcc == drm::kYUYV && out == Output::Xrgb ? 1 : 5;
      const RowConverter f = row_converter(o.fourcc, out);
      ASSERT_NE(f, nullptr);
      std::vector<std::byte> row(512);
      std::vector<uint32_t> px(256);
      size_t bad = 0;
      for (int u = 0; u < 256; u += step) {
        for (int v = 0; v < 256; v += step) {
          for (size_t m = 0; m < 128; ++m) {
            row[m * 4 + static_cast<size_t>(o.y0)] = std::byte{static_cast<uint8_t>(2 * m)};
            row[m * 4 + static_cast<size_t>(o.y1)] = std::byte{static_cast<uint8_t>(2 * m + 1)};
            row[m * 4 + static_cast<size_t>(o.u)] = std::byte{static_cast<uint8_t>(u)};
            row[m * 4 + static_cast<size_t>(o.v)] = std::byte{static_cast<uint8_t>(v)};
          }
          f(row.data(), 0, 256, px.data());
          for (int y = 0; y < 256; ++y)
            if (px[static_cast<size_t>(y)] != as(out, ref_yuv(y, u, v)) && bad++ < 5)
              ADD_FAILURE() << std::hex << "fourcc " << o.fourcc << " y " << y << " u " << u << " v " << v << ": got "
                            << px[static_cast<size_t>(y)] << " want " << as(out, ref_yuv(y, u, v));
        }
      }
      EXPECT_EQ(bad, 0u);
    }
  }
}

TEST(ConvertExact, Rgb565EveryValueMatchesBitReplication) {
  std::vector<std::byte> row(65536 * 2);
  for (uint32_t v = 0; v < 65536; ++v) {
    row[v * 2] = std::byte{static_cast<uint8_t>(v)};
    row[v * 2 + 1] = std::byte{static_cast<uint8_t>(v >> 8)};
  }
  for (const Output out : {Output::Xrgb, Output::Argb}) {
    std::vector<uint32_t> px(65536);
    row_converter(drm::kRGB565, out)(row.data(), 0, 65536, px.data());
    for (uint32_t v = 0; v < 65536; ++v) ASSERT_EQ(px[v], as(out, ref_packed(drm::kRGB565, row.data() + v * 2))) << v;
  }
}

// Random rows, every format, windows starting and ending at every offset a vector loop can
// meet: blocks, scalar heads and tails, odd starts inside a YUV macropixel.
TEST(ConvertExact, EveryFormatEveryWindowMatchesPerPixelReference) {
  std::mt19937 rng(1234);
  std::vector<std::byte> row(4 * 160);
  for (auto& b : row) b = std::byte{static_cast<uint8_t>(rng())};
  for (const uint32_t fourcc : {drm::kXRGB8888, drm::kARGB8888, drm::kXBGR8888, drm::kABGR8888, drm::kXRGB2101010,
                                drm::kXBGR2101010, drm::kRGB565, drm::kC8, drm::kYUYV, drm::kUYVY, drm::kYVYU,
                                drm::kVYUY}) {
    const uint32_t row_px = static_cast<uint32_t>(row.size()) / format_cpp(fourcc);
    for (const Output out : {Output::Xrgb, Output::Argb}) {
      const RowConverter f = row_converter(fourcc, out);
      ASSERT_NE(f, nullptr) << fourcc;
      for (uint32_t x0 = 0; x0 < 5; ++x0) {
        for (uint32_t width = 0; x0 + width <= std::min(row_px, 70u); ++width) {
          std::vector<uint32_t> px(width + 1, 0xDEADBEEF);  // one guard value past the window
          f(row.data(), x0, width, px.data());
          for (uint32_t i = 0; i < width; ++i)
            ASSERT_EQ(px[i], as(out, ref_pixel(fourcc, row, x0 + i)))
                << std::hex << "fourcc " << fourcc << std::dec << " x0 " << x0 << " width " << width << " pixel " << i;
          ASSERT_EQ(px[width], 0xDEADBEEFu) << "wrote past the window: x0 " << x0 << " width " << width;
        }
      }
    }
  }
}

}  // namespace
}  // namespace vgd::fb
