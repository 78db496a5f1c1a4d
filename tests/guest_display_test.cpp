// A guest lighting a pipe and flipping, end to end on a vGPU whose vblanks come from a virtual
// clock: the vblank rate follows the mode the guest programmed, sync flips complete one vblank
// later, async flips at once, and many vGPUs share one clock.
#include <gtest/gtest.h>

#include "guest_support.h"

namespace vgd {
namespace {

using guest::Error;
using guest::PixelFormat;
using hw::Pipe;
using hw::Plane;
using hw::Tiling;

class GuestDisplayTest : public test::ClockedGpuTest {
 protected:
  guest::Surface surface(InProcessGuest& g, const guest::Mode& m, Tiling t = Tiling::X) {
    guest::Surface s;
    EXPECT_EQ(g.display().create_surface(m.width, m.height, PixelFormat::Xrgb8888, t, s), Error::None);
    return s;
  }
};

struct ModeCase {
  const char* name;
  guest::Mode mode;
  double hz;
};

class GuestModeRate : public GuestDisplayTest, public ::testing::WithParamInterface<ModeCase> {};

TEST_P(GuestModeRate, VblanksComeAtTheProgrammedRate) {
  const ModeCase& c = GetParam();
  auto g = boot("GVTg_V5_4");
  ASSERT_EQ(g->display().modeset(Pipe::A, c.mode, surface(*g, c.mode)), Error::None);
  EXPECT_NEAR(g->vgpu().display().refresh_mhz() / 1000.0, c.hz, c.hz * 0.001);
  const uint64_t start = clock.now_ns();
  clock.advance_by(1'000'000'000);
  const uint64_t frames = g->vgpu().display().stats().vblanks[0];
  EXPECT_NEAR(static_cast<double>(frames), c.hz, 1.0) << "vblanks in one second after " << start;
}

INSTANTIATE_TEST_SUITE_P(Modes, GuestModeRate,
                         ::testing::Values(ModeCase{"xga60", guest::kMode1024x768at60, 60.004},
                                           ModeCase{"xga75", guest::kMode1024x768at75, 75.03},
                                           ModeCase{"fhd60", guest::kMode1920x1080at60, 60.0},
                                           ModeCase{"fhd59_94", guest::kMode1920x1080at5994, 59.94}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(GuestDisplayTest, SyncFlipWaitsForTheNextVblankAsyncDoesNot) {
  auto g = boot();
  const auto& m = guest::kMode1024x768at60;
  guest::Surface front = surface(*g, m), back = surface(*g, m);
  ASSERT_EQ(g->display().modeset(Pipe::A, m, front), Error::None);
  const uint64_t period = 16'666'667;  // 60.004 Hz rounds to this within a nanosecond or so
  const uint64_t t0 = clock.now_ns();
  ASSERT_EQ(g->display().flip(Pipe::A, Plane::Primary, back), Error::None);
  const uint64_t waited = clock.now_ns() - t0;
  EXPECT_GT(waited, 0u);
  EXPECT_LE(waited, period) << "completed at the first vblank";
  const uint64_t surflive = rd(g->vgpu(), 0x701AC);
  EXPECT_EQ(surflive, back.buffer.gm.value());

  const uint64_t t1 = clock.now_ns();
  ASSERT_EQ(g->display().flip(Pipe::A, Plane::Primary, front, /*async=*/true), Error::None);
  EXPECT_EQ(clock.now_ns(), t1) << "async flip-done needs no vblank";
  EXPECT_EQ(rd(g->vgpu(), 0x701AC), front.buffer.gm.value());
}

TEST_F(GuestDisplayTest, FlipOfADisabledPlaneIsRefused) {
  auto g = boot();
  const auto& m = guest::kMode1024x768at60;
  guest::Surface a = surface(*g, m), b = surface(*g, m);
  ASSERT_EQ(g->display().modeset(Pipe::A, m, a), Error::None);
  ASSERT_EQ(g->display().disable(Pipe::A), Error::None);
  EXPECT_EQ(g->display().flip(Pipe::A, Plane::Primary, b), Error::BadArgument);
}

TEST_F(GuestDisplayTest, WaitingOnAStoppedPipeTimesOutInsteadOfHanging) {
  auto g = boot();
  const auto& m = guest::kMode1024x768at60;
  guest::Surface a = surface(*g, m), b = surface(*g, m);
  ASSERT_EQ(g->display().modeset(Pipe::A, m, a), Error::None);
  wr(g->vgpu(), 0x70008, 0);  // pipe off behind the driver's back: no more vblanks
  EXPECT_EQ(g->display().flip(Pipe::A, Plane::Primary, b), Error::Timeout);
  EXPECT_EQ(g->display().wait_vblank(Pipe::A), Error::Timeout);
}

TEST_F(GuestDisplayTest, CursorMovesCompleteAtOnceAndCarryTheHotspot) {
  auto g = boot();
  const auto& m = guest::kMode1024x768at60;
  ASSERT_EQ(g->display().modeset(Pipe::A, m, surface(*g, m)), Error::None);
  guest::Buffer cursor;
  ASSERT_EQ(g->driver().alloc_buffer(64 * 64 * 4, guest::Placement::Aperture, cursor), Error::None);
  ASSERT_EQ(g->display().set_cursor(Pipe::A, cursor, 3, 4), Error::None);
  const uint64_t t = clock.now_ns();
  ASSERT_EQ(g->display().move_cursor(Pipe::A, -5, 20), Error::None);
  EXPECT_EQ(clock.now_ns(), t);
  EXPECT_EQ(rd(g->vgpu(), 0x70088), (1u << 15) | 5u | (20u << 16)) << "sign-magnitude CURPOS";
  EXPECT_EQ(pv(g->vgpu(), 0x830), 3u);
  EXPECT_EQ(pv(g->vgpu(), 0x834), 4u);
}

TEST_F(GuestDisplayTest, SixtyFourVgpusShareOneClock) {
  GpuConfig cfg;
  cfg.geometry.aperture_size = 1536 * kMiB;
  cfg.geometry.fence_count = 512;
  cfg.types.push_back(VgpuType{"tiny", {16 * kMiB, 32 * kMiB, 4}, 1, 640, 480});
  init(cfg);
  gpu->set_vblank_clock(&clock);
  std::vector<std::unique_ptr<InProcessGuest>> guests;
  const guest::Mode small{640, 480, 800, 525, 25175};  // VGA, 59.94 Hz
  for (int i = 0; i < 64; ++i) {
    guests.push_back(boot("tiny"));
    ASSERT_EQ(guests.back()->display().modeset(Pipe::A, small, surface(*guests.back(), small, Tiling::Linear)),
              Error::None)
        << "vGPU " << i;
  }
  EXPECT_EQ(clock.timers(), 64u);
  clock.advance_by(1'000'000'000);
  for (auto& g : guests) EXPECT_NEAR(static_cast<double>(g->vgpu().display().stats().vblanks[0]), 59.94, 1.0);
}

}  // namespace
}  // namespace vgd
