// Detiling X, Y and Yf surfaces: every pixel of a shown window must come from where the tiling puts
// it. The expectations come from a reference address function written here from the layout
// descriptions (docs/hardware.md, Tiling; Yf from gmmlib's swizzle tables), not from the library.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fb/detile.h"

namespace vgd::fb {
namespace {

using hw::Tiling;

struct TileDims {
  uint32_t width_bytes, height;
};

TileDims dims(Tiling t, uint32_t cpp) {
  switch (t) {
    case Tiling::Linear: return {1, 1};
    case Tiling::X: return {512, 8};
    case Tiling::Y: return {128, 32};
    case Tiling::Yf: return cpp == 1 ? TileDims{64, 64} : cpp <= 4 ? TileDims{128, 32} : TileDims{256, 16};
  }
  return {0, 0};
}

uint64_t bit(uint64_t v, unsigned n) { return v >> n & 1; }

// Yf in-tile offset of byte column u, row v. Offset bits, 11 first:
//   8 bpp     x5 y5 x4 y4 y3 y2 y1 y0 x3 x2 x1 x0
//   16/32 bpp x6 y4 x5 y3 x4 y2 y1 y0 x3 x2 x1 x0
//   64 bpp    x7 y3 x6 y2 x5 x4 y1 y0 x3 x2 x1 x0
uint64_t yf_in_tile(uint32_t cpp, uint64_t u, uint64_t v) {
  const uint64_t low = u & 15;
  if (cpp == 1) return low | (v & 31) << 4 | bit(u, 4) << 9 | bit(v, 5) << 10 | bit(u, 5) << 11;
  if (cpp <= 4)
    return low | (v & 7) << 4 | bit(u, 4) << 7 | bit(v, 3) << 8 | bit(u, 5) << 9 | bit(v, 4) << 10 | bit(u, 6) << 11;
  return low | (v & 3) << 4 | (u >> 4 & 3) << 6 | bit(v, 2) << 8 | bit(u, 6) << 9 | bit(v, 3) << 10 | bit(u, 7) << 11;
}

// Byte offset of the first byte of pixel (x, y) in a surface of stride bytes per pixel row.
uint64_t ref_offset(Tiling t, uint32_t cpp, uint32_t stride, uint32_t x, uint32_t y) {
  const uint64_t xb = uint64_t{x} * cpp;
  if (t == Tiling::Linear) return uint64_t{y} * stride + xb;
  const TileDims d = dims(t, cpp);
  const uint64_t tile = uint64_t{y / d.height} * (stride / d.width_bytes) + xb / d.width_bytes;
  const uint64_t u = xb % d.width_bytes, v = y % d.height;
  uint64_t in_tile = 0;
  switch (t) {
    case Tiling::X: in_tile = v * 512 + u; break;                          // rows of 512 B
    case Tiling::Y: in_tile = u / 16 * 512 + v * 16 + u % 16; break;       // 16 B × 32-row columns
    case Tiling::Yf: in_tile = yf_in_tile(cpp, u, v); break;
    case Tiling::Linear: break;
  }
  return tile * 4096 + in_tile;
}

// Byte k of pixel (x, y): a hash, so a pixel read from anywhere else is caught.
uint8_t pattern(uint32_t x, uint32_t y, uint32_t k) {
  uint32_t h = x * 0x9E3779B1u ^ y * 0x85EBCA77u ^ k * 0xC2B2AE3Du;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 13;
  return static_cast<uint8_t>(h);
}

struct Case {
  Tiling tiling;
  uint32_t cpp;
};
std::string name(const testing::TestParamInfo<Case>& i) {
  const char* t[] = {"Linear", "X", "Y", "Yf"};
  return std::string(t[static_cast<int>(i.param.tiling)]) + "_" + std::to_string(i.param.cpp * 8) + "bpp";
}

// A surface 3 tiles wide and at least 3 tile rows and 48 rows high (linear: 3 × 64 bytes + 12
// padding per row, 70 rows).
class Detile : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    c = GetParam();
    const TileDims d = dims(c.tiling, c.cpp);
    stride = c.tiling == Tiling::Linear ? 3 * 64 + 12 : 3 * d.width_bytes;
    rows = c.tiling == Tiling::Linear ? 70 : std::max(3 * d.height, (48 + d.height - 1) / d.height * d.height);
    width_px = stride / c.cpp;
  }
  TiledSurface surface(const std::vector<std::byte>& bytes) const { return {bytes, c.tiling, c.cpp, stride}; }
  size_t bytes_size() const { return size_t{stride} * rows; }

  // The surface, every pixel's bytes written through the reference function.
  std::vector<std::byte> tile(auto&& byte_of) const {
    std::vector<std::byte> out(bytes_size());
    for (uint32_t y = 0; y < rows; ++y)
      for (uint32_t x = 0; x < width_px; ++x)
        for (uint32_t k = 0; k < c.cpp; ++k) out[ref_offset(c.tiling, c.cpp, stride, x, y) + k] = std::byte{byte_of(x, y, k)};
    return out;
  }

  void expect_window(const Window& w) const {
    const auto tiled = tile(pattern);
    const auto lin = detile(surface(tiled), w);
    ASSERT_TRUE(lin) << lin.error();
    ASSERT_EQ(lin->size(), size_t{w.width} * w.height * c.cpp);
    size_t bad = 0;
    for (uint32_t y = 0; y < w.height; ++y)
      for (uint32_t x = 0; x < w.width; ++x)
        for (uint32_t k = 0; k < c.cpp; ++k)
          if ((*lin)[(size_t{y} * w.width + x) * c.cpp + k] != std::byte{pattern(w.x + x, w.y + y, k)} && bad++ < 5)
            ADD_FAILURE() << "pixel (" << x << "," << y << ") byte " << k << " of window at (" << w.x << "," << w.y << ")";
    EXPECT_EQ(bad, 0u);
  }

  Case c{};
  uint32_t stride = 0, rows = 0, width_px = 0;
};

TEST_P(Detile, WholeSurfaceEveryPixel) { expect_window({0, 0, width_px, rows}); }

TEST_P(Detile, OddWidthAtTileOffset) {
  // 37 pixels starting inside a tile column, rows starting inside a tile: partial runs at both
  // ends of every row, partial tiles at the top and bottom.
  const TileDims d = dims(c.tiling, c.cpp);
  expect_window({5, 3, 37, d.height + 5});
  expect_window({width_px - 37, rows - 29, 37, 29});
}

TEST_P(Detile, SinglePixelsAndRowsAcrossTileBoundaries) {
  const TileDims d = dims(c.tiling, c.cpp);
  const uint32_t tile_px = std::max(1u, d.width_bytes / c.cpp);
  expect_window({tile_px - 1, d.height - 1, 2, 2});  // the four pixels around a tile corner
  expect_window({width_px - 1, rows - 1, 1, 1});
  expect_window({1, 0, width_px - 2, 1});
}

TEST_P(Detile, WritesOnlyTheWindowIntoAPaddedDestination) {
  const auto tiled = tile(pattern);
  const Window w{3, 2, 11, 7};
  const size_t row = size_t{w.width} * c.cpp, dst_stride = row + 13;
  std::vector<std::byte> dst(dst_stride * w.height, std::byte{0xEE});
  ASSERT_FALSE(check_window(surface(tiled), w));
  detile_into(surface(tiled), w, dst.data(), dst_stride);
  for (uint32_t y = 0; y < w.height; ++y) {
    EXPECT_EQ(dst[y * dst_stride], std::byte{pattern(w.x, w.y + y, 0)});
    for (size_t p = row; p < dst_stride; ++p) EXPECT_EQ(dst[y * dst_stride + p], std::byte{0xEE}) << "padding overwritten";
  }
}

TEST_P(Detile, TileThenDetileIsIdentity) {
  std::mt19937 rng(42);
  std::vector<std::byte> linear(bytes_size());
  for (auto& b : linear) b = std::byte{static_cast<uint8_t>(rng())};
  const auto tiled = tile([&](uint32_t x, uint32_t y, uint32_t k) {
    return std::to_integer<uint8_t>(linear[size_t{y} * stride + size_t{x} * c.cpp + k]);
  });
  const auto back = detile(surface(tiled), {0, 0, width_px, rows});
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, linear);
}

TEST_P(Detile, DetileThenTileIsIdentity) {
  std::mt19937 rng(7);
  std::vector<std::byte> tiled(bytes_size());
  for (auto& b : tiled) b = std::byte{static_cast<uint8_t>(rng())};
  const auto lin = detile(surface(tiled), {0, 0, width_px, rows});
  ASSERT_TRUE(lin) << lin.error();
  const auto again = tile([&](uint32_t x, uint32_t y, uint32_t k) {
    return std::to_integer<uint8_t>((*lin)[size_t{y} * stride + size_t{x} * c.cpp + k]);
  });
  EXPECT_EQ(again, tiled);
}

TEST_P(Detile, RefusesWindowsOutsideTheSurface) {
  const std::vector<std::byte> bytes(bytes_size());
  EXPECT_TRUE(check_window(surface(bytes), {1, 0, width_px, 1})) << "past the stride";
  EXPECT_TRUE(check_window(surface(bytes), {0, rows, 1, 1})) << "below the last row";
  EXPECT_TRUE(check_window(surface(bytes), {0, 0, 0, 1})) << "empty";
  const std::vector<std::byte> short_bytes(bytes_size() - 1);
  EXPECT_TRUE(check_window(surface(short_bytes), {0, 0, width_px, rows})) << "bytes end before the last tile";
  EXPECT_FALSE(detile(surface(short_bytes), {0, 0, width_px, rows}));
}

INSTANTIATE_TEST_SUITE_P(Tilings, Detile,
                         testing::Values(Case{Tiling::Linear, 4}, Case{Tiling::Linear, 2}, Case{Tiling::X, 1},
                                         Case{Tiling::X, 2}, Case{Tiling::X, 4}, Case{Tiling::Y, 1}, Case{Tiling::Y, 2},
                                         Case{Tiling::Y, 4}, Case{Tiling::Yf, 1}, Case{Tiling::Yf, 2},
                                         Case{Tiling::Yf, 4}, Case{Tiling::Yf, 8}),
                         name);

TEST(DetileLayout, YfKeepsA4x4BlockOf32bppPixelsInOneCacheLine) {
  // The point of Yf: 4×4 pixels at 4 B/px fill one 64-byte line; the next block to the right
  // starts 128 bytes on (after the 4×4 block below it).
  std::vector<std::byte> tiled(4096);
  for (size_t i = 0; i < tiled.size(); i += 4) tiled[i] = std::byte{static_cast<uint8_t>(i / 64)};
  const auto lin = detile({tiled, Tiling::Yf, 4, 128}, {0, 0, 8, 8});
  ASSERT_TRUE(lin) << lin.error();
  const auto line_of = [&](uint32_t x, uint32_t y) { return std::to_integer<int>((*lin)[(y * 8 + x) * 4]); };
  EXPECT_EQ(line_of(0, 0), 0);
  EXPECT_EQ(line_of(3, 3), 0);
  EXPECT_EQ(line_of(0, 4), 1);  // 64 bytes on
  EXPECT_EQ(line_of(4, 0), 2);  // 128 bytes on
  EXPECT_EQ(line_of(7, 7), 3);
}

TEST(DetileLayout, RefusesBadStridesAndPixelSizes) {
  const std::vector<std::byte> bytes(64 * 4096);
  EXPECT_TRUE(check_window({bytes, Tiling::X, 4, 1000}, {0, 0, 10, 1})) << "X stride must be whole 512-byte tiles";
  EXPECT_TRUE(check_window({bytes, Tiling::Y, 4, 200}, {0, 0, 10, 1})) << "Y stride must be whole 128-byte tiles";
  EXPECT_TRUE(check_window({bytes, Tiling::Yf, 1, 96}, {0, 0, 10, 1})) << "8 bpp Yf tiles are 64 bytes wide";
  EXPECT_FALSE(check_window({bytes, Tiling::Yf, 1, 64}, {0, 0, 10, 1}));
  EXPECT_TRUE(check_window({bytes, Tiling::Yf, 3, 384}, {0, 0, 10, 1})) << "no Yf layout for 24 bpp";
  EXPECT_TRUE(check_window({bytes, Tiling::X, 0, 512}, {0, 0, 10, 1}));
  EXPECT_TRUE(check_window({bytes, Tiling::X, 4, 0}, {0, 0, 10, 1}));
}

}  // namespace
}  // namespace vgd::fb
