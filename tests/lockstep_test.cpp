// Guests on their own threads sharing one virtual clock: each sees vblanks at its own display's
// rate, runs are reproducible, and a guest that waits for something that never comes times out
// instead of stalling the others.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "sim/inprocess.h"
#include "sim/lockstep.h"
#include "support.h"

namespace vgd {
namespace {

using guest::Error;

class LockstepTest : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    gpu->set_vblank_clock(&clock);
  }
  void TearDown() override { gpu.reset(); }

  // Guests that light pipe A in the given modes and count vblanks for one virtual second.
  std::vector<uint32_t> vblanks_in_a_second(const std::vector<guest::Mode>& modes) {
    Lockstep lockstep(clock, modes.size());
    std::vector<std::unique_ptr<InProcessGuest>> guests;
    for (size_t i = 0; i < modes.size(); ++i) {
      guests.push_back(std::make_unique<InProcessGuest>(create(), gpu->geometry(), &lockstep.port(i)));
      EXPECT_EQ(guests.back()->driver().probe(), Error::None);
      EXPECT_EQ(guests.back()->driver().balloon(), Error::None);
    }
    std::vector<uint32_t> counts(modes.size());
    const uint64_t end = clock.now_ns() + 1'000'000'000;
    lockstep.run([&](size_t i) {
      guest::Display& d = guests[i]->display();
      guest::Surface s;
      ASSERT_EQ(d.create_surface(modes[i].width, modes[i].height, guest::PixelFormat::Xrgb8888, hw::Tiling::X, s),
                Error::None);
      ASSERT_EQ(d.modeset(hw::Pipe::A, modes[i], s), Error::None);
      while (clock.now_ns() < end && d.wait_vblank(hw::Pipe::A) == Error::None) ++counts[i];
    });
    return counts;
  }

  display::VirtualClock clock;
};

TEST_F(LockstepTest, EachGuestSeesItsOwnDisplaysRate) {
  const auto counts = vblanks_in_a_second({guest::kMode1024x768at60, guest::kMode1024x768at75,
                                           guest::kMode1024x768at60});
  EXPECT_NEAR(counts[0], 60, 1);
  EXPECT_NEAR(counts[1], 75, 1);
  EXPECT_NEAR(counts[2], 60, 1);
}

TEST_F(LockstepTest, RunsAreReproducible) {
  const auto first = vblanks_in_a_second({guest::kMode1024x768at60, guest::kMode1024x768at75});
  const uint64_t first_end = clock.now_ns();
  const auto second = vblanks_in_a_second({guest::kMode1024x768at60, guest::kMode1024x768at75});
  EXPECT_EQ(first, second);
  EXPECT_GT(clock.now_ns(), first_end);
}

TEST_F(LockstepTest, AGuestWaitingOnADarkPipeTimesOutAndTheOthersFinish) {
  Lockstep lockstep(clock, 2);
  InProcessGuest dark(create(), gpu->geometry(), &lockstep.port(0));
  InProcessGuest lit(create(), gpu->geometry(), &lockstep.port(1));
  Error dark_result = Error::None;
  uint32_t lit_vblanks = 0;
  lockstep.run([&](size_t i) {
    if (i == 0) {
      dark_result = dark.display().wait_vblank(hw::Pipe::B);  // never enabled
      return;
    }
    ASSERT_EQ(lit.driver().probe(), Error::None);
    ASSERT_EQ(lit.driver().balloon(), Error::None);
    guest::Surface s;
    ASSERT_EQ(lit.display().create_surface(640, 480, guest::PixelFormat::Xrgb8888, hw::Tiling::Linear, s), Error::None);
    ASSERT_EQ(lit.display().modeset(hw::Pipe::A, {640, 480, 800, 525, 25175}, s), Error::None);
    for (int k = 0; k < 30; ++k)
      if (lit.display().wait_vblank(hw::Pipe::A) == Error::None) ++lit_vblanks;
  });
  EXPECT_EQ(dark_result, Error::Timeout);
  EXPECT_EQ(lit_vblanks, 30u);
}

}  // namespace
}  // namespace vgd
