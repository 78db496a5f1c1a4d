// The guest's drawing: pixel addresses against each tiling's storage order walked byte by byte,
// encodings against known values, clipping, gradients, blits, text and the built-in font.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <vector>

#include "fb/convert.h"
#include "guest/canvas.h"
#include "guest/font.h"
#include "guest/display.h"

namespace vgd {
namespace {

using guest::Canvas;
using guest::PixelFormat;
using guest::Surface;
using hw::Tiling;

// Guest RAM as a plain vector, counting how often the canvas asks for a mapping.
class VecRam final : public guest::RamPort {
 public:
  uint64_t size() const override { return bytes.size(); }
  std::byte* at(Gpa gpa, uint64_t len) override {
    ++maps;
    return gpa.value() <= bytes.size() && len <= bytes.size() - gpa.value() ? bytes.data() + gpa.value() : nullptr;
  }
  std::vector<std::byte> bytes;
  int maps = 0;
};

// A surface laid out as the display wants it, alone in its RAM at GPA 0.
struct TestSurface {
  TestSurface(uint32_t w, uint32_t h, PixelFormat f, Tiling t) {
    uint64_t size = 0;
    EXPECT_TRUE(guest::layout_surface(w, h, f, t, s.stride, size));
    ram.bytes.assign(size, std::byte{0});
    s.buffer = guest::Buffer{Gma(0), Gpa(0), size};
    s.width = w, s.height = h, s.format = f, s.tiling = t;
  }
  Canvas canvas() { return Canvas(ram, s); }
  uint32_t load(uint64_t off, uint32_t n) const {
    uint32_t v = 0;
    std::memcpy(&v, ram.bytes.data() + off, n);
    return v;
  }
  VecRam ram;
  Surface s;
};

// Where byte column bx of row y lives, found by walking memory in the order the tiling stores
// bytes rather than by a formula: tiles row-major; X tile = 8 rows of 512 bytes one after
// another; Y tile = 8 columns of 16 bytes, each column 32 rows top-down.
std::vector<std::vector<uint64_t>> storage_map(Tiling t, uint32_t stride, uint32_t rows) {
  std::vector<std::vector<uint64_t>> at(rows, std::vector<uint64_t>(stride));
  uint64_t off = 0;
  if (t == Tiling::Linear) {
    for (uint32_t y = 0; y < rows; ++y)
      for (uint32_t bx = 0; bx < stride; ++bx) at[y][bx] = off++;
  } else if (t == Tiling::X) {
    for (uint32_t ty = 0; ty < rows / 8; ++ty)
      for (uint32_t tx = 0; tx < stride / 512; ++tx)
        for (uint32_t r = 0; r < 8; ++r)
          for (uint32_t b = 0; b < 512; ++b) at[ty * 8 + r][tx * 512 + b] = off++;
  } else {
    for (uint32_t ty = 0; ty < rows / 32; ++ty)
      for (uint32_t tx = 0; tx < stride / 128; ++tx)
        for (uint32_t col = 0; col < 8; ++col)
          for (uint32_t r = 0; r < 32; ++r)
            for (uint32_t b = 0; b < 16; ++b) at[ty * 32 + r][tx * 128 + col * 16 + b] = off++;
  }
  return at;
}

class Addressing : public ::testing::TestWithParam<std::tuple<Tiling, PixelFormat>> {};

TEST_P(Addressing, PixelsLandWhereTheTilingStoresThem) {
  const auto [tiling, format] = GetParam();
  TestSurface t(300, 70, format, tiling);
  const uint32_t cpp = guest::bytes_per_pixel(format), rows = static_cast<uint32_t>(t.ram.bytes.size() / t.s.stride);
  const auto map = storage_map(tiling, t.s.stride, rows);
  Canvas c = t.canvas();
  ASSERT_TRUE(c.valid());
  const auto count = [](auto bad) {  // pixels for which bad(x, y) holds
    int n = 0;
    for (uint32_t y = 0; y < 70; ++y)
      for (uint32_t x = 0; x < 300; ++x) n += bad(x, y);
    return n;
  };
  EXPECT_EQ(count([&](uint32_t x, uint32_t y) { return c.offset(x, y) != map[y][x * cpp]; }), 0);

  // What a pixel's own bytes read as (for 4:2:2 its Y byte) and what colour c should give.
  const uint32_t own = format == PixelFormat::Yuyv ? 1 : cpp;
  const auto at = [&](uint32_t x, uint32_t y) { return t.load(map[y][x * cpp], own); };
  const auto expect = [&](uint32_t color) {
    return own == 1 ? guest::rgb_to_yuv(color).y : guest::pixel_pattern(format, color) & (own == 4 ? ~0u : 0xFFFFu);
  };
  if (format != PixelFormat::Yuyv) {  // a unique colour per pixel, exact in 5/6/5 bits too
    const auto colour = [](uint32_t x, uint32_t y) {
      const uint32_t v = y * 300 + x;
      return 0xFF000000u | (v >> 11 & 31) << 19 | (v >> 5 & 63) << 10 | (v & 31) << 3;
    };
    for (uint32_t y = 0; y < 70; ++y)
      for (uint32_t x = 0; x < 300; ++x) c.put(static_cast<int32_t>(x), static_cast<int32_t>(y), colour(x, y));
    EXPECT_EQ(count([&](uint32_t x, uint32_t y) { return at(x, y) != expect(colour(x, y)); }), 0);
  }
  // A rectangle with odd edges (half macropixels for 4:2:2): inside A, outside B.
  c.clear(0xFF802010);
  c.fill_rect(17, 3, 211, 50, 0xFF20C040);
  EXPECT_EQ(count([&](uint32_t x, uint32_t y) {
              const bool inside = x >= 17 && x < 228 && y >= 3 && y < 53;
              return at(x, y) != expect(inside ? 0xFF20C040 : 0xFF802010);
            }),
            0);
  // Scrolling copies whole rows wherever their pieces live.
  const auto grey = [](uint32_t y) { return 0xFF000000u | y * 3 * 0x010101u; };
  for (uint32_t y = 0; y < 70; ++y) c.fill_rect(0, static_cast<int32_t>(y), 300, 1, grey(y));
  c.move_rows(0, 5, 40);    // up
  c.move_rows(50, 45, 20);  // down, overlapping
  EXPECT_EQ(count([&](uint32_t x, uint32_t y) { return at(x, y) != expect(grey(y < 40 ? y + 5 : y >= 50 ? y - 5 : y)); }), 0);
  EXPECT_EQ(t.ram.maps, 1) << "the surface is mapped once, not per pixel";
}

INSTANTIATE_TEST_SUITE_P(Layouts, Addressing,
                         ::testing::Combine(::testing::Values(Tiling::Linear, Tiling::X, Tiling::Y),
                                            ::testing::Values(PixelFormat::Xrgb8888, PixelFormat::Rgb565,
                                                              PixelFormat::Yuyv)));

// The first n bytes of a linear surface after drawing.
std::vector<uint8_t> first_bytes(PixelFormat f, void (*draw)(Canvas&), size_t n = 4) {
  TestSurface t(8, 1, f, Tiling::Linear);
  Canvas c = t.canvas();
  draw(c);
  std::vector<uint8_t> out(n);
  std::memcpy(out.data(), t.ram.bytes.data(), n);
  return out;
}

TEST(CanvasEncoding, KnownValuesPerFormat) {
  using V = std::vector<uint8_t>;
  EXPECT_EQ(first_bytes(PixelFormat::Xrgb8888, [](Canvas& c) { c.put(0, 0, 0x00123456); }), (V{0x56, 0x34, 0x12, 0xFF}));
  EXPECT_EQ(first_bytes(PixelFormat::Argb8888, [](Canvas& c) { c.put(0, 0, 0x80123456); }), (V{0x56, 0x34, 0x12, 0x80}));
  EXPECT_EQ(first_bytes(PixelFormat::Xbgr8888, [](Canvas& c) { c.put(0, 0, 0x00123456); }), (V{0x12, 0x34, 0x56, 0xFF}));
  EXPECT_EQ(first_bytes(PixelFormat::Xrgb2101010, [](Canvas& c) { c.put(0, 0, 0xFF0000); }), (V{0, 0, 0xF0, 0xFF}));
  EXPECT_EQ(first_bytes(PixelFormat::C8, [](Canvas& c) { c.put(0, 0, 0xFFFFFF); }), (V{0xFF, 0, 0, 0}));
  // RGB565: red 0xF800, green 0x07E0, then 50% grey 0x8410.
  EXPECT_EQ(first_bytes(PixelFormat::Rgb565, [](Canvas& c) { c.put(0, 0, 0xFF0000), c.put(1, 0, 0x00FF00); }),
            (V{0x00, 0xF8, 0xE0, 0x07}));
  EXPECT_EQ(first_bytes(PixelFormat::Rgb565, [](Canvas& c) { c.put(0, 0, 0x808080), c.put(1, 0, 0x0000FF); }),
            (V{0x10, 0x84, 0x1F, 0x00}));
  // BT.601 limited range: white Y 235, black Y 16, neutral chroma 128; red Y 82 Cb 90 Cr 240.
  EXPECT_EQ(first_bytes(PixelFormat::Yuyv, [](Canvas& c) { c.put(0, 0, 0xFFFFFF), c.put(1, 0, 0x000000); }),
            (V{235, 128, 16, 128}));
  EXPECT_EQ(first_bytes(PixelFormat::Yuyv, [](Canvas& c) { c.put(0, 0, 0xFFFFFF), c.put(1, 0, 0xFF0000); }),
            (V{235, 90, 82, 240})) << "the pair's chroma comes from the pixel drawn last";
  EXPECT_EQ(first_bytes(PixelFormat::Uyvy, [](Canvas& c) { c.put(0, 0, 0xFF0000); }), (V{90, 82, 240, 0}));
  EXPECT_EQ(first_bytes(PixelFormat::Yuyv, [](Canvas& c) { c.fill_rect(0, 0, 2, 1, 0xFF0000); }), (V{82, 90, 82, 240}));
  EXPECT_EQ(first_bytes(PixelFormat::Yuyv, [](Canvas& c) { c.clear(0), c.fill_rect(1, 0, 1, 1, 0xFFFFFF); }),
            (V{16, 128, 235, 128}));
  EXPECT_EQ(first_bytes(PixelFormat::Uyvy, [](Canvas& c) { c.clear(0), c.fill_rect(1, 0, 4, 1, 0xFF0000); }, 12),
            (V{90, 16, 240, 82, 90, 82, 240, 82, 90, 82, 240, 16})) << "odd ends: the pairs take the fill's chroma";
}

TEST(CanvasEncoding, YuvSurvivesTheHostsConversion) {
  int worst = 0;
  for (uint32_t rgb = 0; rgb < 0x1000000; rgb += 4099) {
    const guest::Yuv c = guest::rgb_to_yuv(rgb);
    const uint32_t back = fb::yuv_to_rgb(c.y, c.u, c.v);
    for (uint32_t shift : {0u, 8u, 16u})
      worst = std::max(worst, std::abs(static_cast<int>(back >> shift & 0xFF) - static_cast<int>(rgb >> shift & 0xFF)));
  }
  EXPECT_LE(worst, 3);
}

// Pixels of a linear XRGB canvas whose colour is not the background's.
struct Box {
  uint32_t x0 = UINT32_MAX, y0 = UINT32_MAX, x1 = 0, y1 = 0, count = 0;
};
Box lit(const TestSurface& t, uint32_t background) {
  Box b;
  for (uint32_t y = 0; y < t.s.height; ++y)
    for (uint32_t x = 0; x < t.s.width; ++x)
      if ((t.load(uint64_t{y} * t.s.stride + x * 4, 4) & 0xFFFFFF) != background) {
        b.x0 = std::min(b.x0, x), b.y0 = std::min(b.y0, y), b.x1 = std::max(b.x1, x + 1), b.y1 = std::max(b.y1, y + 1);
        ++b.count;
      }
  return b;
}

TEST(Canvas, FillRectClipsToTheSurface) {
  TestSurface t(64, 32, PixelFormat::Xrgb8888, Tiling::Linear);
  Canvas c = t.canvas();
  c.fill_rect(-10, -5, 30, 20, 0xFFFFFF);
  Box b = lit(t, 0);
  EXPECT_EQ(std::tie(b.x0, b.y0, b.x1, b.y1, b.count), std::make_tuple(0u, 0u, 20u, 15u, 300u));
  c.clear(0);
  c.fill_rect(50, 20, 100, 100, 0xFFFFFF);
  b = lit(t, 0);
  EXPECT_EQ(std::tie(b.x0, b.y0, b.x1, b.y1), std::make_tuple(50u, 20u, 64u, 32u));
  c.clear(0);
  for (auto [x, y, w, h] : {std::array<int32_t, 4>{10, 10, 0, 5}, {10, 10, -4, 5}, {64, 0, 5, 5}, {0, -5, 5, 5},
                            {INT32_MAX - 1, 0, INT32_MAX, 9}, {INT32_MIN, INT32_MIN, INT32_MAX, INT32_MAX}})
    c.fill_rect(x, y, w, h, 0xFFFFFF);
  c.put(-1, 0, 0xFFFFFF), c.put(64, 0, 0xFFFFFF), c.put(0, 32, 0xFFFFFF);
  EXPECT_EQ(lit(t, 0).count, 0u);
  c.fill_rect(INT32_MIN, INT32_MIN, INT32_MAX, INT32_MAX, 0xFFFFFF);  // ends at -2: nothing
  c.fill_rect(-100, -100, 1000, 1000, 0xFFFFFF);
  EXPECT_EQ(lit(t, 0).count, 64u * 32u);
}

TEST(Canvas, UnsupportedLayoutsDrawNothing) {
  TestSurface t(64, 32, PixelFormat::Xrgb8888, Tiling::X);
  Surface yf = t.s, narrow = t.s, big = t.s;
  yf.tiling = Tiling::Yf, narrow.stride = 256, big.height = 64;
  for (const Surface& s : {yf, narrow, big}) {
    Canvas c(t.ram, s);
    EXPECT_FALSE(c.valid());
    c.clear(0xFFFFFF);
  }
  EXPECT_EQ(std::count(t.ram.bytes.begin(), t.ram.bytes.end(), std::byte{0}), static_cast<long>(t.ram.bytes.size()));
}

TEST(Canvas, GradientAndBlit) {
  TestSurface t(16, 11, PixelFormat::Argb8888, Tiling::Linear);
  Canvas c = t.canvas();
  c.vgradient(0, 0, 16, 11, 0xFF000000, 0x80FF6400);
  EXPECT_EQ(t.load(0, 4), 0xFF000000u);
  EXPECT_EQ(t.load(5 * t.s.stride, 4), 0xC07F3200u);  // half way, per channel, rounded toward the top
  EXPECT_EQ(t.load(10 * t.s.stride + 60, 4), 0x80FF6400u);
  const uint32_t img[4] = {0xFF0000FF, 0x00FFFFFF, 0x40000000, 0xFFFFFFFF};
  c.blit(-1, 0, img, 2, 2, Canvas::Blend::SkipTransparent);  // column 0 clipped, 0x00FFFFFF skipped
  EXPECT_EQ(t.load(0, 4), 0xFF000000u);
  EXPECT_EQ(t.load(t.s.stride, 4), 0xFFFFFFFFu);
  c.blit(0, 0, img, 2, 2);
  EXPECT_EQ(t.load(4, 4), 0x00FFFFFFu);
}

TEST(Font, GlyphsAreDistinctAndStayInTheirCell) {
  for (char a = guest::font::kFirst; a <= guest::font::kLast; ++a) {
    const uint8_t* g = guest::font::glyph(a);
    int lit_rows = 0;
    for (uint32_t r = 0; r < guest::font::kHeight; ++r) {
      EXPECT_EQ(g[r] & 0x83, 0) << "glyph '" << a << "' row " << r << " leaves columns 1..5";
      lit_rows += g[r] != 0;
    }
    EXPECT_EQ(lit_rows == 0, a == ' ') << a;
    for (char b = guest::font::kFirst; b < a; ++b)
      EXPECT_NE(std::memcmp(g, guest::font::glyph(b), guest::font::kHeight), 0) << a << " looks like " << b;
  }
  EXPECT_EQ(guest::font::glyph('\n'), guest::font::glyph('?'));
}

TEST(Canvas, TextStaysInsideItsBox) {
  TestSurface t(200, 40, PixelFormat::Xrgb8888, Tiling::Linear);
  Canvas c = t.canvas();
  const char* text = "Hi: 09";
  EXPECT_EQ(c.draw_text(10, 12, text, 0xFFFFFF, 2), 10 + 6 * 16);
  EXPECT_EQ(Canvas::text_width(text, 2), 96u);
  const Box b = lit(t, 0);
  EXPECT_GT(b.count, 100u);
  EXPECT_TRUE(b.x0 >= 10 && b.y0 >= 12 && b.x1 <= 106 && b.y1 <= 28) << b.x0 << "," << b.y0 << " " << b.x1 << "," << b.y1;
  c.clear(0);
  c.draw_text(-20, -3, text, 0xFFFFFF, 3);  // clipped at the corner, still drawn where visible
  EXPECT_GT(lit(t, 0).count, 0u);
}

}  // namespace
}  // namespace vgd
