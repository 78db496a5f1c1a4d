// vgpu-kmstest's shared pure parts (docs/vm.md, "vgpu-kmstest"): the patterns the guest program
// draws and the host tests expect, pinned pixel by pixel so that neither side can drift alone, and
// the output lines the host reads back from the serial console.
#include <gtest/gtest.h>

#include <unordered_set>
#include <vector>

#include "kmstest/patterns.h"
#include "kmstest/report.h"
#include "kmstest/scene.h"

namespace {

using namespace vgd::kmstest;

TEST(KmsTestPatterns, PinnedPixels) {
  // Red = x mod 256, green = y mod 256, blue = tag | x bits 9..8 << 2 | y bits 9..8.
  EXPECT_EQ(pattern_pixel(Pattern::A, 0, 0), 0xff000020u);
  EXPECT_EQ(pattern_pixel(Pattern::A, 1, 2), 0xff010220u);
  EXPECT_EQ(pattern_pixel(Pattern::B, 0x1ff, 0x2fe), 0xfffffe66u);
  EXPECT_EQ(pattern_pixel(Pattern::C, 1023, 767), 0xffffffaeu);
  EXPECT_EQ(pattern_pixel(Pattern::D, 300, 10), 0xff2c0ae4u);
}

TEST(KmsTestPatterns, CursorIsAnOpaqueTriangleOnTransparency) {
  EXPECT_EQ(pattern_pixel(Pattern::Cursor, 0, 0), 0xff0000c0u);  // the tip, at the hotspot
  EXPECT_EQ(pattern_pixel(Pattern::Cursor, 10, 20), 0xff2850c0u);
  EXPECT_EQ(pattern_pixel(Pattern::Cursor, 63, 0), 0xfffc00c0u);
  EXPECT_EQ(pattern_pixel(Pattern::Cursor, 32, 32), 0u);  // x + y = 64: outside
  EXPECT_EQ(pattern_pixel(Pattern::Cursor, 63, 63), 0u);
  EXPECT_EQ(pattern_pixel(Pattern::Cursor, 64, 0), 0u);  // beyond the 64x64 buffer
  // Premultiplied: every pixel is either fully opaque or all zero.
  for (uint32_t y = 0; y < kCursorSize; ++y)
    for (uint32_t x = 0; x < kCursorSize; ++x) {
      const uint32_t px = pattern_pixel(Pattern::Cursor, x, y);
      EXPECT_TRUE(px == 0 || (px >> 24) == 0xff) << x << "," << y;
    }
}

TEST(KmsTestPatterns, EveryPixelOfAModeIsUniqueAcrossPatterns) {
  // A shifted, scaled or wrong buffer cannot match: no value repeats within 1024x1024 and A..D.
  std::unordered_set<uint32_t> seen;
  for (Pattern p : {Pattern::A, Pattern::B, Pattern::C, Pattern::D})
    for (uint32_t y = 0; y < 1024; ++y)
      for (uint32_t x = 0; x < 1024; ++x) ASSERT_TRUE(seen.insert(pattern_pixel(p, x, y)).second) << x << "," << y;
}

TEST(KmsTestPatterns, FillHonoursThePitchAndLeavesThePaddingAlone) {
  constexpr uint32_t w = 3, h = 2, pitch = 16;  // one padding pixel per row
  std::vector<uint32_t> buf(pitch / 4 * h, 0xdeadbeef);
  fill_pattern(Pattern::B, buf.data(), w, h, pitch);
  EXPECT_EQ(buf[0], pattern_pixel(Pattern::B, 0, 0));
  EXPECT_EQ(buf[2], pattern_pixel(Pattern::B, 2, 0));
  EXPECT_EQ(buf[3], 0xdeadbeefu);
  EXPECT_EQ(buf[4], pattern_pixel(Pattern::B, 0, 1));
  EXPECT_EQ(buf[7], 0xdeadbeefu);
}

TEST(KmsTestPatterns, NamesRoundTrip) {
  for (Pattern p : {Pattern::A, Pattern::B, Pattern::C, Pattern::D, Pattern::Cursor})
    EXPECT_EQ(pattern_named(pattern_name(p)), p);
  EXPECT_EQ(pattern_named("E"), std::nullopt);
}

TEST(KmsTestReport, StepLinesSplitIntoFields) {
  const auto l = parse_report_line(
      "kmstest: step cursor x=-20 y=-10 fb=65 width=64 height=64 pattern=cursor seq=19 tv=2.448880\r");
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->kind, "step");
  EXPECT_EQ(l->name, "cursor");
  EXPECT_EQ(l->get("x"), "-20");
  EXPECT_EQ(l->get("tv"), "2.448880");  // the console's \r is not part of the last value
  EXPECT_EQ(l->get("missing"), std::nullopt);

  const auto b = parse_report_line("kmstest: bench-flips flips=200 p50_us=16572 p99_us=21066");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->kind, "bench-flips");
  EXPECT_EQ(b->get("flips"), "200");
}

TEST(KmsTestReport, OtherLinesAreNotSteps) {
  EXPECT_EQ(parse_report_line("[    2.5] reboot: Power down"), std::nullopt);
  EXPECT_EQ(parse_report_line("kmstest: failed at modeset: no mode 1234x567"), std::nullopt);
  EXPECT_EQ(parse_report_line("kmstest: step"), std::nullopt);
  EXPECT_EQ(parse_report_line("kmstest: step x=1"), std::nullopt);        // no name
  EXPECT_EQ(parse_report_line("kmstest: step flip index"), std::nullopt);  // a word without =
}

TEST(KmsTestReport, PercentilesAreNearestRank) {
  EXPECT_EQ(percentile({}, 50), 0u);
  EXPECT_EQ(percentile({7}, 99), 7u);
  std::vector<uint64_t> v;
  for (uint64_t i = 100; i >= 1; --i) v.push_back(i);  // unsorted on purpose
  EXPECT_EQ(percentile(v, 50), 50u);
  EXPECT_EQ(percentile(v, 99), 99u);
  EXPECT_EQ(percentile(v, 100), 100u);
  EXPECT_EQ(percentile({1, 2, 3}, 50), 2u);
}

// The screen after each step, derived from the lines the program printed under vkms.
TEST(KmsTestScene, StepLinesBuildTheScreen) {
  Scene s;
  const auto step = [&](std::string_view line) {
    const auto l = parse_report_line(line);
    return l && apply_step(s, *l);
  };
  ASSERT_TRUE(step("kmstest: step modeset connector=Virtual-1 crtc=51 mode=1024x768@60 fb=63 width=1024 height=768 "
                   "pitch=4096 size=3145728 pattern=A seq=11 tv=2.315555"));
  EXPECT_TRUE(s.on);
  EXPECT_EQ(scene_pixel(s, 1023, 767), pattern_pixel(Pattern::A, 1023, 767));
  ASSERT_TRUE(step("kmstest: step flip index=2 of=4 fb=64 width=1024 height=768 pattern=C seq=15"));
  EXPECT_EQ(scene_pixel(s, 5, 6), pattern_pixel(Pattern::C, 5, 6));

  // The cursor across the top-left corner: its pixel (20, 10) lands on the screen's (0, 0); its
  // transparent half shows the primary.
  ASSERT_TRUE(step("kmstest: step cursor x=-20 y=-10 fb=65 width=64 height=64 pattern=cursor seq=19"));
  EXPECT_EQ(scene_pixel(s, 0, 0), pattern_pixel(Pattern::Cursor, 20, 10));
  EXPECT_EQ(scene_pixel(s, 40, 10), pattern_pixel(Pattern::C, 40, 10));  // cursor (60, 20): transparent
  EXPECT_EQ(scene_pixel(s, 44, 0), pattern_pixel(Pattern::C, 44, 0));    // beyond the cursor's 64 columns

  ASSERT_TRUE(step("kmstest: step overlay x=256 y=192 fb=66 width=512 height=384 pattern=D seq=23"));
  EXPECT_EQ(scene_pixel(s, 256, 192), pattern_pixel(Pattern::D, 0, 0));
  EXPECT_EQ(scene_pixel(s, 767, 575), pattern_pixel(Pattern::D, 511, 383));
  EXPECT_EQ(scene_pixel(s, 768, 575), pattern_pixel(Pattern::C, 768, 575));
  // The cursor over the overlay where both are.
  ASSERT_TRUE(step("kmstest: step cursor x=250 y=190 width=64 height=64 pattern=cursor"));
  EXPECT_EQ(scene_pixel(s, 256, 192), pattern_pixel(Pattern::Cursor, 6, 2));
  EXPECT_EQ(scene_pixel(s, 300, 250), pattern_pixel(Pattern::D, 44, 58));  // the cursor's transparent part

  // A mode change leaves the new primary alone; off leaves nothing.
  ASSERT_TRUE(step("kmstest: step mode connector=Virtual-1 mode=800x600@60 width=800 height=600 pattern=A seq=24"));
  EXPECT_EQ(s.width, 800u);
  EXPECT_FALSE(s.cursor.has_value());
  EXPECT_FALSE(s.overlay.has_value());
  ASSERT_TRUE(step("kmstest: step off crtc=51"));
  EXPECT_FALSE(s.on);
}

TEST(KmsTestScene, LinesMissingFactsAreRefused) {
  Scene s;
  const auto step = [&](std::string_view line) {
    const auto l = parse_report_line(line);
    return l && apply_step(s, *l);
  };
  EXPECT_FALSE(step("kmstest: step modeset width=1024 height=768"));                      // no pattern
  EXPECT_FALSE(step("kmstest: step cursor x=1 width=64 height=64 pattern=cursor"));       // no y
  EXPECT_FALSE(step("kmstest: step cursor x=1 y=z width=64 height=64 pattern=cursor"));   // y not a number
  EXPECT_FALSE(step("kmstest: step flip width=1024 height=768 pattern=E"));              // no such pattern
  EXPECT_FALSE(step("kmstest: step dance width=1 height=1 x=0 y=0 pattern=A"));          // no such step
  EXPECT_FALSE(step("kmstest: bench-flips flips=3"));
}

}  // namespace
