// Damage hints' policy (docs/hardware.md, Damage hints): clipping, the bounded set that merges
// into a bounding box rather than lose area, and the tracker that holds damage for a flip.
#include <gtest/gtest.h>

#include "display/damage_set.h"
#include "display/damage_tracker.h"

namespace vgd::display {
namespace {

using hw::Pipe;
using hw::Plane;

TEST(DamageClip, CutsToThePlaneAndDropsWhatLiesOutside) {
  EXPECT_EQ(clip({10, 20, 30, 40}, 100, 100), (DamageRect{10, 20, 30, 40}));
  EXPECT_EQ(clip({90, 95, 30, 40}, 100, 100), (DamageRect{90, 95, 10, 5}));
  EXPECT_TRUE(clip({100, 0, 5, 5}, 100, 100).empty());
  EXPECT_TRUE(clip({0, 0, 0, 5}, 100, 100).empty());
  EXPECT_EQ(clip({65000, 0, 65535, 1}, 65535, 1), (DamageRect{65000, 0, 535, 1})) << "no wrap past 16 bits";
}

TEST(DamageSetTest, KeepsRectanglesAndIgnoresEmptyAndContainedOnes) {
  DamageSet d;
  EXPECT_TRUE(d.empty());
  d.add({0, 0, 0, 10});
  EXPECT_TRUE(d.empty());
  d.add({10, 10, 20, 20});
  d.add({12, 12, 5, 5});  // inside the first
  d.add({100, 0, 8, 8});
  ASSERT_EQ(d.rects().size(), 2u);
  d.add({0, 0, 200, 200});  // covers both
  ASSERT_EQ(d.rects().size(), 1u);
  EXPECT_EQ(d.rects()[0], (DamageRect{0, 0, 200, 200}));
}

TEST(DamageSetTest, PastSixteenRectanglesAllMergeIntoTheirBoundingBox) {
  DamageSet d;
  for (uint32_t i = 0; i < kMaxDamageRects; ++i) d.add({i * 10, i * 5, 4, 4});
  EXPECT_EQ(d.rects().size(), kMaxDamageRects);
  d.add({300, 2, 1, 1});
  ASSERT_EQ(d.rects().size(), 1u);
  EXPECT_EQ(d.rects()[0], (DamageRect{0, 0, 301, 79})) << "every pixel of the 17 is still covered";
}

TEST(DamageSetTest, WholeAbsorbsEverything) {
  DamageSet d;
  d.add({1, 1, 1, 1});
  DamageSet other = DamageSet::whole_plane();
  d.merge(other);
  EXPECT_TRUE(d.whole());
  EXPECT_TRUE(d.rects().empty());
  d.add({5, 5, 5, 5});
  EXPECT_TRUE(d.rects().empty());
  EXPECT_FALSE(d.empty());
}

DamageSet rects(std::initializer_list<DamageRect> rs) {
  DamageSet d;
  for (const DamageRect& r : rs) d.add(r);
  return d;
}

TEST(DamageTrackerTest, NothingWhileOffAndEverythingWhenSwitchedOn) {
  DamageTracker t;
  t.submit(Pipe::A, Plane::Primary, rects({{0, 0, 8, 8}}), false);
  t.flip_latched(Pipe::A, Plane::Primary);
  EXPECT_TRUE(t.take_due(Pipe::A, Plane::Primary).empty());
  t.set_enabled(true);
  EXPECT_TRUE(t.take_due(Pipe::B, Plane::Sprite).whole());
  EXPECT_TRUE(t.take_due(Pipe::B, Plane::Sprite).empty()) << "taken once";
}

TEST(DamageTrackerTest, HeldDamageWaitsForTheFlipAndAFlipWithoutDamageIsWhole) {
  DamageTracker t;
  t.set_enabled(true);
  for (Pipe p : hw::kPipes) t.take_due(p, Plane::Primary), t.take_due(p, Plane::Sprite);
  t.submit(Pipe::A, Plane::Primary, rects({{0, 0, 8, 8}}), true);
  EXPECT_TRUE(t.take_due(Pipe::A, Plane::Primary).empty()) << "held until the flip latches";
  t.flip_latched(Pipe::A, Plane::Primary);
  const DamageSet d = t.take_due(Pipe::A, Plane::Primary);
  ASSERT_EQ(d.rects().size(), 1u);
  EXPECT_EQ(d.rects()[0], (DamageRect{0, 0, 8, 8}));
  t.flip_latched(Pipe::A, Plane::Primary);
  EXPECT_TRUE(t.take_due(Pipe::A, Plane::Primary).whole()) << "a flip nobody described";
  t.submit(Pipe::A, Plane::Sprite, rects({{1, 1, 2, 2}}), false);
  EXPECT_EQ(t.take_due(Pipe::A, Plane::Sprite).rects().size(), 1u) << "front-buffer damage is due at once";
  EXPECT_TRUE(t.take_due(Pipe::A, Plane::Cursor).empty()) << "the cursor has no hints";
}

}  // namespace
}  // namespace vgd::display
