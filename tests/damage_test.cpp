// The damage diff: which tiles changed, merged into few rectangles.
#include <gtest/gtest.h>

#include "viewers/damage.h"
#include "viewers/display_off.h"

namespace vgd::viewers {
namespace {

std::vector<uint32_t> picture(uint32_t w, uint32_t h, uint32_t v = 0xFF102030) { return std::vector<uint32_t>(size_t{w} * h, v); }

TEST(Damage, IdenticalPicturesHaveNone) {
  const auto a = picture(100, 50);
  const Damage d = diff_tiles(a, a, 100, 50);
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.tiles, 0u);
}

TEST(Damage, OnePixelIsOneTile) {
  const auto a = picture(128, 64);
  auto b = a;
  b[size_t{37} * 128 + 70] ^= 1;  // tile (4, 2)
  const Damage d = diff_tiles(a, b, 128, 64);
  ASSERT_EQ(d.rects.size(), 1u);
  EXPECT_EQ(d.rects[0], (Rect{64, 32, 16, 16}));
  EXPECT_EQ(d.tiles, 1u);
  EXPECT_FALSE(d.full);
}

TEST(Damage, EdgeTilesAreClippedToThePicture) {
  const auto a = picture(100, 50);  // 7 x 4 tiles, the last column 4 wide, the last row 2 high
  auto b = a;
  b[size_t{49} * 100 + 99] = 0;
  const Damage d = diff_tiles(a, b, 100, 50);
  ASSERT_EQ(d.rects.size(), 1u);
  EXPECT_EQ(d.rects[0], (Rect{96, 48, 4, 2}));
}

TEST(Damage, NeighboursMergeAcrossAndDown) {
  const auto a = picture(160, 160);
  auto b = a;
  // A 40x20 block from (20, 10): tiles x 1..3, y 0..1 → one rectangle 48 x 32.
  for (uint32_t y = 10; y < 30; ++y)
    for (uint32_t x = 20; x < 60; ++x) b[size_t{y} * 160 + x] = 0xFFFFFFFF;
  // And a lone tile far away.
  b[size_t{150} * 160 + 150] = 0;
  const Damage d = diff_tiles(a, b, 160, 160);
  ASSERT_EQ(d.rects.size(), 2u);
  EXPECT_EQ(d.rects[0], (Rect{16, 0, 48, 32}));
  EXPECT_EQ(d.rects[1], (Rect{144, 144, 16, 16}));
  EXPECT_EQ(d.tiles, 7u);
}

TEST(Damage, RunsOfDifferentSpansStaySeparate) {
  const auto a = picture(64, 32);
  auto b = a;
  b[0] = 0;                        // tile (0,0)
  b[size_t{16} * 64 + 0] = 0;      // tile (0,1)
  b[size_t{16} * 64 + 16] = 0;     // tile (1,1): row 1's run is 2 wide, row 0's 1 wide
  const Damage d = diff_tiles(a, b, 64, 32);
  ASSERT_EQ(d.rects.size(), 2u);
  EXPECT_EQ(d.rects[0], (Rect{0, 0, 16, 16}));
  EXPECT_EQ(d.rects[1], (Rect{0, 16, 32, 16}));
}

TEST(Damage, MostlyChangedIsOneFullRectangle) {
  const auto a = picture(64, 64);
  auto b = a;
  for (uint32_t y = 0; y < 64; ++y)
    for (uint32_t x = 0; x < 40; ++x) b[size_t{y} * 64 + x] = 0;  // 3 of 4 tile columns
  const Damage d = diff_tiles(a, b, 64, 64);
  ASSERT_EQ(d.rects.size(), 1u);
  EXPECT_TRUE(d.full);
  EXPECT_EQ(d.rects[0], (Rect{0, 0, 64, 64}));
  EXPECT_EQ(d.tiles, 12u);
}

TEST(Damage, TooSmallInputsAreNoDamage) {
  const auto a = picture(10, 10);
  EXPECT_TRUE(diff_tiles(a, a, 20, 20).empty());
  EXPECT_TRUE(diff_tiles(a, a, 0, 10).empty());
}

TEST(DisplayOff, SaysSoInTheMiddle) {
  const fb::Image img = render_display_off(1024, 768, "vGPU 1: off");
  ASSERT_EQ(img.width, 1024u);
  ASSERT_EQ(img.px.size(), size_t{1024} * 768);
  EXPECT_EQ(img.at(0, 0), kDisplayOffBackground);
  size_t title = 0, detail = 0;
  for (uint32_t y = 0; y < 768; ++y)
    for (uint32_t x = 0; x < 1024; ++x) {
      title += img.at(x, y) == kDisplayOffTitle;
      detail += img.at(x, y) == kDisplayOffDetail;
      if (img.at(x, y) == kDisplayOffTitle) {
        EXPECT_GT(x, 300u);
        EXPECT_LT(x, 724u);
      }
    }
  EXPECT_GT(title, 500u);
  EXPECT_GT(detail, 50u);
  // Tiny sizes still work (text clipped).
  EXPECT_EQ(render_display_off(1, 1).px.size(), 1u);
}

TEST(Damage, WithinHintsOnlyTheirTilesAreCompared) {
  const auto a = picture(128, 64);
  auto b = a;
  b[size_t{5} * 128 + 5] ^= 1;    // tile (0, 0), inside the hint
  b[size_t{40} * 128 + 100] ^= 1;  // tile (6, 2), outside it
  const std::vector<Rect> hint = {Rect{0, 0, 20, 10}};  // tiles (0..1, 0)
  const Damage d = diff_tiles_within(a, b, 128, 64, hint);
  ASSERT_EQ(d.rects.size(), 1u);
  EXPECT_EQ(d.rects[0], (Rect{0, 0, 16, 16})) << "compared inside the hint, and only there";
  EXPECT_TRUE(diff_tiles_within(a, b, 128, 64, {}).empty()) << "no hints: nothing changed";
}

TEST(Damage, HintsOnTheScreen) {
  const PlaneHints primary{true, false, {Rect{0, 0, 10, 10}, Rect{1000, 0, 100, 5}}};
  const PlaneHints sprite{true, false, {Rect{2, 3, 4, 5}}};
  const Placement at{-10, 50, 100, 100}, moved{200, 50, 100, 100};
  auto r = hinted_screen_rects(primary, sprite, at, at, 1024, 768);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<Rect>{{0, 0, 10, 10}, {1000, 0, 24, 5}})) << "clipped; the sprite's rect is off screen";
  r = hinted_screen_rects(primary, PlaneHints{true, false, {Rect{20, 3, 4, 5}}}, at, at, 1024, 768);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->back(), (Rect{10, 53, 4, 5})) << "sprite rects move with the sprite";
  r = hinted_screen_rects(primary, sprite, moved, at, 1024, 768);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 4u) << "a moved sprite: where it is and where it was";
  EXPECT_FALSE(hinted_screen_rects(PlaneHints{true, true, {}}, sprite, at, at, 1024, 768)) << "whole primary";
  EXPECT_FALSE(hinted_screen_rects(primary, PlaneHints{}, at, at, 1024, 768)) << "a sprite without hints";
  EXPECT_TRUE(hinted_screen_rects(primary, PlaneHints{}, std::nullopt, std::nullopt, 1024, 768)) << "no sprite";
}

}  // namespace
}  // namespace vgd::viewers
