// Damage hints through the device (docs/hardware.md, Damage hints): the guest's PVINFO writes
// as the vblank report carries them. Offsets are the documented literals.
#include <gtest/gtest.h>

#include "support.h"

namespace vgd {
namespace {

constexpr uint64_t kRect0 = 0x78880, kCtl = 0x78900, kSubmit = 0x78904;
constexpr uint64_t kPipeConfA = 0x70008, kPlaneCtlA = 0x70180, kSurfA = 0x7019C, kSprSizeA = 0x70290;
constexpr uint32_t kWithFlip = 1u << 30, kWhole = 1u << 31, kAsyncFlip = 1u << 9;

class PvinfoDamageTest : public test::MsiCountingTest {
 protected:
  void SetUp() override {
    MsiCountingTest::SetUp();
    test::program_mode(*v, hw::Pipe::A, 640, 480, 60);
    wr(*v, kPlaneCtlA, 1u << 31);
    wr(*v, kPipeConfA, 1u << 31);
    wr(*v, kCtl, 1);
    v->vblank();  // delivers the whole-plane damage of switching hints on
  }
  void rect(unsigned i, uint16_t x, uint16_t y, uint16_t w, uint16_t h) {
    wr(*v, kRect0 + 8 * i, uint64_t{x} | uint64_t{y} << 16 | uint64_t{w} << 32 | uint64_t{h} << 48, 8);
  }
  display::DamageSet primary() { return v->vblank().pipes[0].damage[0]; }
};

TEST_F(PvinfoDamageTest, ControlIsReadableAndResetClearsIt) {
  EXPECT_EQ(rd(*v, kCtl), 1u);
  EXPECT_EQ(rd(*v, kSubmit), 0u);
  wr(*v, kSubmit, 0);
  EXPECT_EQ(rd(*v, kSubmit), 0u) << "a submit is not stored";
  EXPECT_TRUE(v->display().damage_hints());
  v->reset();
  EXPECT_EQ(rd(*v, kCtl), 0u);
  EXPECT_FALSE(v->display().damage_hints());
}

TEST_F(PvinfoDamageTest, FrontBufferDamageComesWithTheNextVblankClippedToThePlane) {
  rect(0, 10, 20, 30, 40);
  rect(1, 600, 470, 100, 100);  // hangs off the 640x480 primary
  rect(2, 5, 5, 0, 9);          // empty
  wr(*v, kSubmit, 3);
  const auto r = v->vblank();
  EXPECT_TRUE(r.pipes[0].hinted);
  const display::DamageSet& d = r.pipes[0].damage[0];
  ASSERT_EQ(d.rects().size(), 2u);
  EXPECT_EQ(d.rects()[0], (display::DamageRect{10, 20, 30, 40}));
  EXPECT_EQ(d.rects()[1], (display::DamageRect{600, 470, 40, 10}));
  EXPECT_TRUE(primary().empty()) << "delivered once";
  EXPECT_EQ(v->counters().damage_submits, 1u);
}

TEST_F(PvinfoDamageTest, DamageWithTheNextFlipWaitsForItToLatch) {
  rect(0, 1, 2, 3, 4);
  wr(*v, kSubmit, 1 | kWithFlip);
  EXPECT_TRUE(primary().empty()) << "no flip yet";
  wr(*v, kSurfA, 0x100000);
  ASSERT_EQ(primary().rects().size(), 1u) << "latched at this vblank";
  wr(*v, kSurfA, 0x200000);
  EXPECT_TRUE(primary().whole()) << "a flip without described damage is all of the plane";
  wr(*v, kPlaneCtlA, (1u << 31) | kAsyncFlip);
  EXPECT_TRUE(primary().whole()) << "a PLANE_CTL change";
  wr(*v, kSubmit, kWithFlip | kWhole);
  wr(*v, kSurfA, 0x100000);  // async: latches at once, reported at the next vblank
  EXPECT_TRUE(primary().whole());
}

TEST_F(PvinfoDamageTest, BadSubmitsAreCountedAndTakenAsTheWholePlane) {
  wr(*v, kSubmit, 17);  // count > 16
  EXPECT_TRUE(primary().whole());
  wr(*v, kSubmit, 1u << 13 | 1u << 12 | 1u << 9 | 1u << 8);  // pipe 3, plane 3
  const auto r = v->vblank();
  EXPECT_TRUE(r.pipes[0].damage[0].whole() && r.pipes[0].damage[1].whole()) << "no plane named: all of them";
  wr(*v, kSubmit, 1u << 20);  // a reserved bit
  EXPECT_TRUE(primary().whole());
  EXPECT_EQ(v->counters().attacks[GuestAttack::DamageSubmitInvalid], 3u);
  EXPECT_EQ(v->counters().damage_submits, 3u);
  EXPECT_EQ(v->counters().refused(), 3u);
}

TEST_F(PvinfoDamageTest, SubmitsWhileOffAreCountedAndIgnored) {
  wr(*v, kCtl, 0);
  rect(0, 1, 2, 3, 4);
  wr(*v, kSubmit, 1);
  const auto r = v->vblank();
  EXPECT_FALSE(r.pipes[0].hinted);
  EXPECT_TRUE(r.pipes[0].damage[0].empty());
  EXPECT_EQ(v->counters().damage_disabled, 1u);
  EXPECT_EQ(v->counters().attacks[GuestAttack::DamageSubmitInvalid], 0u);
}

TEST_F(PvinfoDamageTest, SpriteRectanglesAreClippedToItsSize) {
  wr(*v, kSprSizeA, (100 - 1) << 16 | (200 - 1));  // 200 wide, 100 high
  v->vblank();
  rect(0, 150, 50, 100, 100);
  wr(*v, kSubmit, 1 | 1u << 8);
  const display::DamageSet d = v->vblank().pipes[0].damage[1];
  ASSERT_EQ(d.rects().size(), 1u);
  EXPECT_EQ(d.rects()[0], (display::DamageRect{150, 50, 50, 50}));
}

}  // namespace
}  // namespace vgd
