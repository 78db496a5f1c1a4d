// Several flip-done gates on one display engine (display/gate_chain.h; docs/design.md, Tearing
// control; docs/direct-flip.md, The engine): a latched sync flip's flip-done comes only when
// every gate allows it, each gate that held it hears that the hold ended, the smallest bound
// wins, and removing a gate releases what only it held while the others keep gating.
#include <gtest/gtest.h>

#include <vector>

#include "display/gate_chain.h"
#include "support.h"

namespace vgd {
namespace {

using display::HeldFlip;
using hw::Pipe;
using hw::Plane;

constexpr uint64_t kPipeConfA = 0x70008, kPlaneCtlA = 0x70180, kSurfA = 0x7019C, kSurfLiveA = 0x701AC;
constexpr uint64_t kImrA = 0x44404, kIirA = 0x44408, kIerA = 0x4440C, kMaster = 0x44200;
constexpr uint32_t kPrimaryDone = 1u << 3;

// A gate that answers what the test says, and records what it heard.
class ScriptedGate final : public display::FlipDoneGate {
 public:
  bool may_complete(const HeldFlip&) override {
    ++asked;
    return allow;
  }
  void hold_ended(const HeldFlip& f, bool timed_out) override { ended.push_back({f.previous, timed_out}); }

  bool allow = true;
  int asked = 0;
  struct Ended {
    uint32_t previous;
    bool timed_out;
  };
  std::vector<Ended> ended;
};

class DisplayGateTest : public test::MsiCountingTest {
 protected:
  void SetUp() override {
    MsiCountingTest::SetUp();
    wr(*v, kImrA, ~kPrimaryDone);
    wr(*v, kIerA, kPrimaryDone);
    wr(*v, kMaster, 1u << 31);
    wr(*v, kPlaneCtlA, 1u << 31);
    wr(*v, kPipeConfA, 1u << 31);
  }
  void TearDown() override {
    v->remove_flip_done_gate(&a);
    v->remove_flip_done_gate(&b);
  }
  // A sync flip to surface k (k = 1, 2, ...), latched by the next vblank.
  void flip_and_latch(uint32_t k) {
    wr(*v, kSurfA, k << 24);
    v->vblank();
    ASSERT_EQ(rd(*v, kSurfLiveA), k << 24) << "SURFLIVE latches whatever the gates say";
  }
  // Reads and acknowledges the primary flip-done, as the guest does.
  bool flip_done() {
    const bool set = (rd(*v, kIirA) & kPrimaryDone) != 0;
    wr(*v, kIirA, kPrimaryDone);
    return set;
  }
  bool held() const { return v->display().held(Pipe::A, Plane::Primary); }

  ScriptedGate a, b;
};

TEST_F(DisplayGateTest, AFlipCompletesOnlyWhenEveryGateAllowsIt) {
  v->add_flip_done_gate(&a, 5);
  v->add_flip_done_gate(&b, 5);
  a.allow = false;
  flip_and_latch(1);
  EXPECT_FALSE(flip_done()) << "the first gate holds it";
  a.allow = true, b.allow = false;
  v->retry_held_flips();
  EXPECT_FALSE(flip_done()) << "the first lets go, the second holds it";
  v->vblank();
  EXPECT_FALSE(flip_done());
  b.allow = true;
  v->retry_held_flips();
  EXPECT_TRUE(flip_done()) << "both allow it";
  EXPECT_FALSE(held());
  ASSERT_EQ(a.ended.size(), 1u) << "each gate that held the flip hears its hold ended";
  ASSERT_EQ(b.ended.size(), 1u);
  EXPECT_EQ(a.ended[0].previous, 0u) << "the surface the flip took off the screen";
  EXPECT_FALSE(a.ended[0].timed_out);
  EXPECT_FALSE(b.ended[0].timed_out);
  EXPECT_EQ(v->display().stats().held, 1u) << "one flip held, however many gates held it";
  EXPECT_EQ(v->display().stats().hold_timeouts, 0u);
}

TEST_F(DisplayGateTest, EachGateCanHoldAloneAndOnlyTheHolderHearsTheEnd) {
  v->add_flip_done_gate(&a, 5);
  v->add_flip_done_gate(&b, 5);
  b.allow = false;
  flip_and_latch(1);
  EXPECT_FALSE(flip_done()) << "the second gate alone holds it";
  EXPECT_GE(a.asked, 1) << "every gate is asked, not only until one refuses";
  b.allow = true;
  v->vblank();
  EXPECT_TRUE(flip_done()) << "at the next vblank, once it allows";
  EXPECT_TRUE(a.ended.empty()) << "the first gate never held it";
  EXPECT_EQ(b.ended.size(), 1u);

  flip_and_latch(2);
  EXPECT_TRUE(flip_done()) << "both allow: flip-done at the latching vblank";
}

TEST_F(DisplayGateTest, TheSmallestBoundRaisesFlipDoneAnyway) {
  v->add_flip_done_gate(&a, 2);
  v->add_flip_done_gate(&b, 5);
  a.allow = b.allow = false;
  flip_and_latch(1);
  v->vblank();
  EXPECT_FALSE(flip_done()) << "one vblank after the latch";
  a.allow = true;  // only b still refuses at the bound
  v->vblank();
  EXPECT_TRUE(flip_done()) << "two vblanks after the latch: the smaller bound";
  EXPECT_EQ(v->display().stats().hold_timeouts, 1u);
  ASSERT_EQ(a.ended.size(), 1u);
  ASSERT_EQ(b.ended.size(), 1u);
  EXPECT_FALSE(a.ended[0].timed_out) << "it had let go";
  EXPECT_TRUE(b.ended[0].timed_out) << "it still refused";
  EXPECT_EQ(v->display().flip_done_gates().max_hold(), 2u);
}

TEST_F(DisplayGateTest, RemovingAGateReleasesWhatOnlyItHeldAndTheOthersKeepGating) {
  v->add_flip_done_gate(&a, 5);
  v->add_flip_done_gate(&b, 5);
  a.allow = false;
  flip_and_latch(1);
  ASSERT_FALSE(flip_done());
  v->remove_flip_done_gate(&a);
  EXPECT_TRUE(flip_done()) << "at once: the remaining gate allows it";
  ASSERT_EQ(a.ended.size(), 1u) << "the removed gate's hold is over";
  EXPECT_FALSE(a.ended[0].timed_out);
  EXPECT_EQ(v->display().flip_done_gates().size(), 1u);

  b.allow = false;
  flip_and_latch(2);
  EXPECT_FALSE(flip_done()) << "the remaining gate still holds flips";
  b.allow = true;
  v->retry_held_flips();
  EXPECT_TRUE(flip_done());
}

TEST_F(DisplayGateTest, RemovingAGateKeepsAFlipAnotherStillHolds) {
  v->add_flip_done_gate(&a, 5);
  v->add_flip_done_gate(&b, 5);
  a.allow = b.allow = false;
  flip_and_latch(1);
  v->remove_flip_done_gate(&a);
  EXPECT_FALSE(flip_done()) << "the other gate still refuses";
  EXPECT_TRUE(held());
  EXPECT_EQ(a.ended.size(), 1u);
  v->remove_flip_done_gate(&b);
  EXPECT_TRUE(flip_done()) << "no gate left: held flips complete at once";
  EXPECT_EQ(b.ended.size(), 1u);
  flip_and_latch(2);
  EXPECT_TRUE(flip_done()) << "and new ones at their latching vblank";
}

TEST_F(DisplayGateTest, AddingAGateTwiceChangesItsBound) {
  v->add_flip_done_gate(&a, 5);
  v->add_flip_done_gate(&a, 1);
  EXPECT_EQ(v->display().flip_done_gates().size(), 1u);
  a.allow = false;
  flip_and_latch(1);
  EXPECT_FALSE(flip_done());
  v->vblank();
  EXPECT_TRUE(flip_done()) << "the new bound: one vblank";
  ASSERT_EQ(a.ended.size(), 1u);
  EXPECT_TRUE(a.ended[0].timed_out);
}

}  // namespace
}  // namespace vgd
