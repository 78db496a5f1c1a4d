// Async guest flips on the host (docs/direct-flip.md, The engine, Async flips): the guest's async
// primary flip goes to the host as it happens — an async commit (kAsync, the primary alone) that
// shows at once where the host display flips async, else an ordinary commit shown at the host's
// next vblank — counted either way. The virtual monitor flips async; the fake display is told
// whether it does.
#include <gtest/gtest.h>

#include <string>

#include "directflip_support.h"
#include "fake_host_display.h"

namespace vgd {
namespace {

using guest::Error;
using hostdisplay::kAsync;
using hw::Pipe;
using hw::Plane;

class DirectFlipAsyncTest : public test::DirectFlipTest {
 protected:
  void SetUp() override {
    DirectFlipTest::SetUp();
    boot();
    g->vgpu().vblank();  // the first frame goes up
    host_vblank();
    (void)take_flip_done();
  }
  void TearDown() override { link.reset(); }  // before the fake it may be on
  // The guest's async flip to `s`, drawn with pattern `frame`.
  void async_flip(const guest::Surface& s, uint32_t frame) {
    draw(s, frame);
    ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, s, /*async=*/true), Error::None);
  }
  // Moves the link onto a fake display that describes the monitor's outputs and planes, and
  // flips async or not. The fake imports nothing: the link refills shadows.
  void move_to_fake(bool async_page_flip) {
    link.reset();
    fake.mutable_resources() = mon->resources();
    fake.mutable_resources().async_page_flip = async_page_flip;
    auto planes = directflip::choose_planes(fake.resources(), "Virtual-1");
    ASSERT_TRUE(planes) << planes.error();
    auto l = test::PipeLink::create(g->vgpu(), Pipe::A, fake, *planes);
    ASSERT_TRUE(l) << l.error();
    link = std::move(*l);
    g->vgpu().vblank();  // the link's first frame
    fake.latch();
    fake.dispatch([this](const hostdisplay::FlipEvent& e) { link->on_flip(e); });
  }

  testing::FakeHostDisplay fake;
};

TEST_F(DirectFlipAsyncTest, AnAsyncGuestFlipShowsOnTheMonitorAtOnce) {
  const uint64_t commits = mon->counters().commits;
  async_flip(back, 1);
  EXPECT_TRUE(take_flip_done()) << "the guest's async flip completes at once";
  std::string where;
  EXPECT_EQ(mismatches(1, &where), 0u) << "on screen without a host vblank: " << where;
  EXPECT_EQ(mon->counters().async, 1u);
  EXPECT_EQ(mon->counters().commits, commits + 1) << "without waiting for the guest's vblank either";
  EXPECT_EQ(link->counters().async_commits, 1u);
  EXPECT_EQ(link->counters().async_fallbacks, 0u);

  host_vblank();  // its page-flip event
  g->vgpu().vblank();
  host_vblank();
  EXPECT_EQ(mismatches(1, &where), 0u) << where;
  EXPECT_EQ(mon->counters().with_allow_modeset, 1u) << "only the bring-up modesets";
}

TEST_F(DirectFlipAsyncTest, BehindACommitStillWaitingItGoesAtTheNextHostVblank) {
  draw(back, 1);
  ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, back), Error::None);
  g->vgpu().vblank();  // committed, waiting for the host's vblank
  async_flip(third, 2);
  EXPECT_EQ(link->counters().async_commits, 0u) << "the host refuses an async flip behind a pending one";
  EXPECT_EQ(link->counters().async_fallbacks, 1u);
  EXPECT_EQ(link->counters().busy_deferrals, 1u) << "kept for the next page-flip event";
  host_vblank();  // the sync flip lands; the async one goes out
  host_vblank();
  std::string where;
  EXPECT_EQ(mismatches(2, &where), 0u) << where;
}

TEST_F(DirectFlipAsyncTest, AHostThatCannotFlipAsyncGetsAnOrdinaryCommitAtOnce) {
  move_to_fake(false);
  const size_t before = fake.commits().size();
  async_flip(back, 1);
  ASSERT_EQ(fake.commits().size(), before + 1) << "committed as the guest flipped, not at its next vblank";
  const auto& c = fake.commits().back();
  EXPECT_EQ(c.flags & kAsync, 0u);
  EXPECT_EQ(fake.pending(), 1u) << "it waits for the host's vblank";
  EXPECT_EQ(link->counters().async_fallbacks, 1u);
  EXPECT_EQ(link->counters().async_commits, 0u);
}

TEST_F(DirectFlipAsyncTest, AHostThatFlipsAsyncGetsThePrimaryAlone) {
  move_to_fake(true);
  const size_t before = fake.commits().size();
  async_flip(back, 1);
  ASSERT_EQ(fake.commits().size(), before + 1);
  const auto& c = fake.commits().back();
  EXPECT_NE(c.flags & kAsync, 0u);
  ASSERT_EQ(c.state.planes.size(), 1u) << "KMS flips only the primary's buffer async";
  EXPECT_EQ(c.state.planes[0].plane_id, link->planes().primary);
  EXPECT_TRUE(c.state.crtcs.empty()) << "no CRTC property: no modeset";
  const auto& before_state = fake.commits()[before - 1].state;
  for (const auto& p : before_state.planes)
    if (p.plane_id == link->planes().primary) {
      EXPECT_NE(p.buffer, c.state.planes[0].buffer) << "another shadow";
      EXPECT_EQ(p.crtc_w, c.state.planes[0].crtc_w);
      EXPECT_EQ(p.src_w, c.state.planes[0].src_w);
    }
  EXPECT_EQ(fake.pending(), 0u) << "latched at once";
  EXPECT_EQ(link->counters().async_commits, 1u);
  EXPECT_EQ(link->counters().async_fallbacks, 0u);
}

}  // namespace
}  // namespace vgd
