// The shadow ring of a host plane (docs/direct-flip.md, Shadow framebuffers): a refill never
// writes the buffer on screen or the one about to be, buffers take turns, and each is handed
// out with exactly the damage it missed since it was last filled.
#include <gtest/gtest.h>

#include <set>

#include "fake_host_display.h"
#include "hostdisplay/shadow_ring.h"
#include "hw/formats.h"

namespace vgd::hostdisplay {
namespace {

using testing::FakeHostDisplay;
constexpr uint32_t kW = 320, kH = 200;

Region rect_region(Rect r) {
  Region g;
  g.add(r);
  return g;
}

uint64_t area(const std::vector<Rect>& rs) {
  uint64_t a = 0;
  for (const Rect& r : rs) a += uint64_t{r.w} * r.h;
  return a;
}

TEST(ShadowDamage, TilesCoverTheDamageOnceAndStayInsideThePicture) {
  Region d;
  d.add({10, 10, 40, 70});  // tiles (0..1, 0..2)
  d.add({20, 20, 10, 10});  // inside the first: copied once
  d.add({300, 190, 50, 50});  // the corner tiles, cut to the picture
  const auto tiles = damaged_tiles(d, kW, kH);
  ASSERT_EQ(tiles.size(), 2u);
  EXPECT_EQ(tiles[0], (Rect{0, 0, 64, 96}));  // three tile rows of the same run: one rectangle
  EXPECT_EQ(tiles[1], (Rect{288, 160, 32, 40}));
  EXPECT_EQ(area(tiles), 64u * 96 + 32 * 40);

  EXPECT_EQ(damaged_tiles(Region::whole_picture(), kW, kH), (std::vector<Rect>{{0, 0, kW, kH}}));
  EXPECT_TRUE(damaged_tiles(Region{}, kW, kH).empty());
  EXPECT_TRUE(damaged_tiles(rect_region({kW, 0, 5, 5}), kW, kH).empty());  // outside
}

TEST(ShadowDamage, RunsOfDifferentWidthsStaySeparate) {
  Region d;
  d.add({0, 0, 64, 32});   // row 0: tiles 0-1
  d.add({0, 32, 32, 32});  // row 1: tile 0 only
  d.add({0, 64, 64, 32});  // row 2: tiles 0-1 again, not joined across row 1
  const auto tiles = damaged_tiles(d, kW, kH);
  EXPECT_EQ(tiles, (std::vector<Rect>{{0, 0, 64, 32}, {0, 32, 32, 32}, {0, 64, 64, 32}}));
}

TEST(ShadowDamage, TooManyRectanglesBecomeTheirBoundingBox) {
  Region d;
  for (uint32_t i = 0; i <= Region::kMaxRects; ++i) d.add({i * 4, i * 2, 1, 1});
  ASSERT_EQ(d.rects().size(), 1u);
  EXPECT_EQ(d.rects()[0], (Rect{0, 0, Region::kMaxRects * 4 + 1, Region::kMaxRects * 2 + 1}));
  d.add(Region::whole_picture());
  EXPECT_TRUE(d.whole());
}

class ShadowRingTest : public ::testing::Test {
 protected:
  ShadowRing make(uint32_t count = 3) {
    auto r = ShadowRing::create(display, kW, kH, hw::drm::kXRGB8888, count);
    EXPECT_TRUE(r) << r.error();
    return std::move(*r);
  }
  // The engine's part: commit the acquired buffer with a page-flip event carrying its fb id.
  void commit(ShadowRing& ring, const ShadowRing::Acquired& a) {
    State s;
    s.planes.push_back({31, 41, a.buffer, 0, 0, fixed16(kW), fixed16(kH), 0, 0, kW, kH, {}});
    s.crtcs.push_back({41, {}, {}, {}});
    ASSERT_TRUE(display.commit(s, kNonblock | kPageFlipEvent, a.buffer->fb_id()));
    ring.submitted(a.index);
  }
  void latch(ShadowRing& ring) {
    display.latch();
    display.dispatch([&](const FlipEvent& e) { ring.latched(static_cast<uint32_t>(e.user_data)); });
  }
  FakeHostDisplay display;
};

TEST_F(ShadowRingTest, CreatesDistinctWritableBuffersOrSaysWhyNot) {
  ShadowRing ring = make();
  ASSERT_EQ(ring.size(), 3u);
  std::set<uint32_t> ids;
  for (uint32_t i = 0; i < 3; ++i) {
    ids.insert(ring.buffer(i)->fb_id());
    EXPECT_GE(ring.buffer(i)->pixels().size(), size_t{kW} * kH * 4);
  }
  EXPECT_EQ(ids.size(), 3u);

  display.fail_next_creates(1);
  auto failed = ShadowRing::create(display, kW, kH, hw::drm::kXRGB8888);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().find("out of video memory"), std::string::npos);
  EXPECT_FALSE(ShadowRing::create(display, kW, kH, hw::drm::kXRGB8888, 1));
}

TEST_F(ShadowRingTest, NeverHandsOutTheBufferOnScreenOrPending) {
  ShadowRing ring = make();
  std::vector<uint32_t> order;
  for (int frame = 0; frame < 12; ++frame) {
    ring.note_frame(Region::whole_picture());
    auto a = ring.acquire();
    ASSERT_TRUE(a) << "frame " << frame;
    EXPECT_NE(std::optional(a->index), ring.on_screen());
    EXPECT_NE(std::optional(a->index), ring.pending());
    order.push_back(a->index);
    commit(ring, *a);
    // Every other frame the next one is filled before the previous latched: three in use.
    if (frame % 2 == 1) {
      ring.note_frame(Region::whole_picture());
      auto b = ring.acquire();
      ASSERT_TRUE(b);
      EXPECT_NE(b->index, a->index);
      EXPECT_NE(std::optional(b->index), ring.on_screen());
      // None left: on screen, pending, filling.
      if (ring.on_screen()) {
        EXPECT_FALSE(ring.acquire());
      }
      ring.abandon(b->index);
    }
    latch(ring);
    EXPECT_EQ(ring.on_screen(), a->index);
    EXPECT_FALSE(ring.pending());
  }
  // Buffers take turns rather than two of them ping-ponging.
  EXPECT_EQ(std::set<uint32_t>(order.begin(), order.end()).size(), 3u);
}

TEST_F(ShadowRingTest, ABufferGetsTheUnionOfTheDamageItMissed) {
  ShadowRing ring = make();
  const Rect d[] = {{0, 0, 8, 8}, {100, 0, 8, 8}, {0, 100, 8, 8}, {200, 100, 8, 8}, {50, 50, 4, 4}};
  // Frames 1-3 fill the three buffers for the first time: whole refills.
  for (int f = 0; f < 3; ++f) {
    ring.note_frame(rect_region(d[f]));
    auto a = ring.acquire();
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->refill.whole());
    EXPECT_FALSE(a->age);
    commit(ring, *a);
    latch(ring);
  }
  // Frame 4: the first buffer holds frame 1, so it misses frames 2, 3 and 4.
  ring.note_frame(rect_region(d[3]));
  auto a = ring.acquire();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->age, 3u);
  ASSERT_FALSE(a->refill.whole());
  EXPECT_EQ(std::vector<Rect>(a->refill.rects().begin(), a->refill.rects().end()),
            (std::vector<Rect>{d[1], d[2], d[3]}));
  commit(ring, *a);

  // Two frames go by unshown (the engine was busy): their damage still reaches the buffers.
  ring.note_frame(rect_region(d[4]));
  ring.note_frame(rect_region(d[0]));
  latch(ring);  // frame 4 on screen; the buffers holding frames 2 and 3 are free
  const auto rects = [](const ShadowRing::Acquired& x) {
    return std::vector<Rect>(x.refill.rects().begin(), x.refill.rects().end());
  };
  auto b = ring.acquire();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->age, 4u);  // holds frame 2 of 6
  EXPECT_EQ(rects(*b), (std::vector<Rect>{d[2], d[3], d[4], d[0]}));
  auto c = ring.acquire();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->age, 3u);  // holds frame 3 of 6
  EXPECT_EQ(rects(*c), (std::vector<Rect>{d[3], d[4], d[0]}));
  ring.abandon(b->index);  // say its commit was refused: it is filled next, whole
  auto e = ring.acquire();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->index, b->index);
  EXPECT_TRUE(e->refill.whole()) << "an abandoned buffer's contents are unknown";
  EXPECT_FALSE(e->age);
}

TEST_F(ShadowRingTest, ABufferUpToDateNeedsNothingAndInvalidateForgetsEverything) {
  ShadowRing ring = make(2);
  for (int f = 0; f < 2; ++f) {
    ring.note_frame(Region::whole_picture());
    auto a = ring.acquire();
    ASSERT_TRUE(a);
    commit(ring, *a);
    latch(ring);
  }
  // No new frame: the free buffer holds the previous frame, one behind.
  auto a = ring.acquire();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->age, 1u);
  ring.abandon(a->index);

  ring.invalidate();
  ring.note_frame(rect_region({1, 1, 1, 1}));
  auto b = ring.acquire();
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->refill.whole());
}

TEST_F(ShadowRingTest, AnotherFramebufferOnThePlaneFreesOurs) {
  ShadowRing ring = make();
  ring.note_frame(Region::whole_picture());
  auto a = ring.acquire();
  ASSERT_TRUE(a);
  commit(ring, *a);
  latch(ring);
  ASSERT_EQ(ring.on_screen(), a->index);
  ring.latched(0);  // the plane went off (or shows an import now)
  EXPECT_FALSE(ring.on_screen());
  // All three free again; the one after the last handed out comes first.
  auto b = ring.acquire();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->index, (a->index + 1) % 3);
}

}  // namespace
}  // namespace vgd::hostdisplay
