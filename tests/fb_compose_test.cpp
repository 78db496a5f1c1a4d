// From a decoded plane to the picture a monitor shows: rendering a plane's window out of guest
// RAM (linear, tiled, YUV) and stacking primary, sprite and cursor with alpha and clipping.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "fb/compose.h"
#include "fb/convert.h"
#include "support.h"

namespace vgd::fb {
namespace {

namespace drm = hw::drm;

constexpr uint32_t kRed = 0xFFFF0000, kBlue = 0xFF0000FF, kBlack = 0xFF000000;

Image solid(uint32_t w, uint32_t h, uint32_t v) { return {w, h, std::vector<uint32_t>(size_t{w} * h, v)}; }

// --- render_plane ---------------------------------------------------------------------------

class RenderPlane : public testing::Test {
 protected:
  // A plane on pages 0..n-1 of RAM, shown at (x_off, y_off) of its surface.
  decode::PlaneInfo plane(uint32_t fourcc, uint32_t cpp, hw::Tiling t, uint32_t stride, uint32_t w, uint32_t h,
                          uint32_t x_off, uint32_t y_off, uint32_t n_pages) {
    decode::PlaneInfo p;
    p.fourcc = fourcc;
    p.cpp = cpp;
    p.tiling = t;
    p.stride = stride;
    p.width = w;
    p.height = h;
    p.x_offset = x_off;
    p.y_offset = y_off;
    p.size = uint64_t{n_pages} * kPageSize;
    for (uint64_t i = 0; i < n_pages; ++i) p.pages.push_back(MemfdOffset::from_page(i));
    return p;
  }
  void put32(uint64_t off, uint32_t v) { std::memcpy(ram->host_bytes(MemfdOffset(off), 4).data(), &v, 4); }
  Expected<Image, std::string> render(const decode::PlaneInfo& p) {
    auto v = PlaneView::map(ram, p);
    if (!v) return Unexpected(v.error());
    return render_plane(p, *v);
  }
  std::shared_ptr<GuestRam> ram = test::make_ram(1 << 20);
};

TEST_F(RenderPlane, LinearXrgbWindowAtAnOffset) {
  const uint32_t stride = 256;  // 64 pixels
  for (uint32_t y = 0; y < 16; ++y)
    for (uint32_t x = 0; x < 64; ++x) put32(y * stride + x * 4, 0xAA000000 | y << 8 | x);  // X byte ignored
  auto img = render(plane(drm::kXRGB8888, 4, hw::Tiling::Linear, stride, 5, 3, 7, 2, 1));
  ASSERT_TRUE(img) << img.error();
  ASSERT_EQ(img->width, 5u);
  ASSERT_EQ(img->height, 3u);
  for (uint32_t y = 0; y < 3; ++y)
    for (uint32_t x = 0; x < 5; ++x) EXPECT_EQ(img->at(x, y), 0xFF000000 | (y + 2) << 8 | (x + 7));
}

TEST_F(RenderPlane, XTiledAbgrWindowAtAnOffset) {
  const uint32_t stride = 1024;  // two 512-byte tiles per tile row, 256 pixels
  for (uint32_t y = 0; y < 16; ++y)
    for (uint32_t x = 0; x < 256; ++x) {
      const uint64_t xb = x * 4;
      const uint64_t off = (y / 8 * 2 + xb / 512) * 4096 + y % 8 * 512 + xb % 512;
      put32(off, 0x80000000 | (y << 16) | (x & 0xFF));  // memory R = x, B = y
    }
  auto img = render(plane(drm::kABGR8888, 4, hw::Tiling::X, stride, 37, 5, 120, 6, 4));
  ASSERT_TRUE(img) << img.error();
  for (uint32_t y = 0; y < 5; ++y)
    for (uint32_t x = 0; x < 37; ++x) ASSERT_EQ(img->at(x, y), 0x80000000 | (x + 120) << 16 | (y + 6)) << x << "," << y;
}

TEST_F(RenderPlane, YuyvWindowStartingAtAnOddPixel) {
  // Macropixel m: Y0 = 2m + 20, U = V = 128 (grey), Y1 = 2m + 21; a 3-pixel window at x = 3.
  std::vector<uint8_t> row;
  for (uint32_t m = 0; m < 32; ++m) row.insert(row.end(), {uint8_t(20 + 2 * m), 128, uint8_t(21 + 2 * m), 128});
  std::memcpy(ram->host_bytes(MemfdOffset(0), row.size()).data(), row.data(), row.size());
  auto img = render(plane(drm::kYUYV, 2, hw::Tiling::Linear, 128, 3, 1, 3, 0, 1));
  ASSERT_TRUE(img) << img.error();
  for (uint32_t x = 0; x < 3; ++x) EXPECT_EQ(img->at(x, 0), kBlack | 0x010101u * (yuv_to_rgb(uint8_t(23 + x), 128, 128) & 0xFF));
}

TEST_F(RenderPlane, RefusesWindowsPastItsPagesAndUnknownFormats) {
  // y offset pushes the window past the plane's only page.
  EXPECT_FALSE(render(plane(drm::kXRGB8888, 4, hw::Tiling::Linear, 256, 64, 4, 0, 14, 1)));
  EXPECT_FALSE(render(plane(drm::kXRGB8888, 4, hw::Tiling::Y, 512, 128, 40, 0, 0, 4))) << "needs 2 tile rows";
  EXPECT_FALSE(render(plane(hw::fourcc('N', 'V', '1', '2'), 1, hw::Tiling::Linear, 64, 8, 8, 0, 0, 1)));
  EXPECT_FALSE(render(plane(drm::kXRGB8888, 2, hw::Tiling::Linear, 64, 8, 8, 0, 0, 1))) << "cpp disagrees";
}

// --- compose --------------------------------------------------------------------------------

TEST(Compose, SourceOverWithStraightAlpha) {
  const Image primary = solid(4, 1, kBlue);
  Image sprite{3, 1, {0x00FF0000, 0x80FF0000, 0xFFFF0000}};
  const Image out = compose(primary, &sprite, 1, 0, nullptr, 0, 0);
  EXPECT_EQ(out.px, (std::vector<uint32_t>{kBlue, kBlue, 0xFF80007F, kRed}));
}

TEST(Compose, CursorGoesOverSpriteOverPrimary) {
  const Image primary = solid(3, 1, kBlue), sprite = solid(2, 1, kRed), cursor = solid(1, 1, 0xFF00FF00);
  const Image out = compose(primary, &sprite, 1, 0, &cursor, 2, 0);
  EXPECT_EQ(out.px, (std::vector<uint32_t>{kBlue, kRed, 0xFF00FF00}));
}

TEST(Compose, TransparentPrimaryShowsThePipeBackground) {
  const Image out = compose(Image{2, 1, {0x00FFFFFF, 0x80FFFFFF}}, nullptr, 0, 0, nullptr, 0, 0);
  EXPECT_EQ(out.px, (std::vector<uint32_t>{kBlack, 0xFF808080}));
}

TEST(Compose, ClipsPlanesStickingOutOnEverySide) {
  const Image primary = solid(4, 4, kBlue), cursor = solid(3, 3, kRed);
  struct At {
    int32_t x, y;
    std::vector<std::pair<uint32_t, uint32_t>> covered;
  };
  const At cases[] = {
      {-2, -2, {{0, 0}}},                          // top-left, negative position
      {3, -1, {{3, 0}, {3, 1}}},                   // right edge, above
      {-1, 3, {{0, 3}, {1, 3}}},                   // left, bottom edge
      {2, 2, {{2, 2}, {3, 2}, {2, 3}, {3, 3}}},    // bottom-right corner
      {-3, 0, {}}, {4, 0, {}}, {0, -3, {}}, {0, 4, {}},  // just off each side
      {INT32_MIN, INT32_MAX, {}},
  };
  for (const At& c : cases) {
    const Image out = compose(primary, nullptr, 0, 0, &cursor, c.x, c.y);
    ASSERT_EQ(out.width, 4u);
    ASSERT_EQ(out.height, 4u);
    for (uint32_t y = 0; y < 4; ++y)
      for (uint32_t x = 0; x < 4; ++x) {
        const bool covered = std::find(c.covered.begin(), c.covered.end(), std::pair(x, y)) != c.covered.end();
        EXPECT_EQ(out.at(x, y), covered ? kRed : kBlue) << "cursor at " << c.x << "," << c.y << " pixel " << x << "," << y;
      }
  }
}

TEST(Compose, SpriteLargerThanThePrimaryIsClippedToIt) {
  const Image big = solid(5, 5, kRed);
  EXPECT_EQ(compose(solid(2, 2, kBlue), &big, -1, -1, nullptr, 0, 0).px, solid(2, 2, kRed).px);
}

}  // namespace
}  // namespace vgd::fb
