// The guest's workloads: their scenes are pure functions of the frame number, render fast, and
// on a vGPU with virtual vblanks each frame leaves exactly that picture in the buffer the plane
// shows, with the flips, cursor and sprite positions the scene functions say.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "guest/workloads.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd {
namespace {

using guest::Canvas;
using guest::Error;
using guest::PixelFormat;
using guest::Surface;
using hw::Pipe;
using hw::Tiling;

// Memory laid out as the display wants s, with draw() done to it.
template <class F>
std::vector<std::byte> drawn(const Surface& s, F draw) {
  uint32_t stride = 0;
  uint64_t size = 0;
  EXPECT_TRUE(guest::layout_surface(s.width, s.height, s.format, s.tiling, stride, size));
  std::vector<std::byte> bytes(size);
  Surface layout = s;
  layout.stride = stride;
  Canvas c(bytes.data(), bytes.size(), layout);
  draw(c);
  return bytes;
}
Surface surface(uint32_t w, uint32_t h, Tiling t, PixelFormat f = PixelFormat::Xrgb8888) {
  Surface s;
  s.width = w, s.height = h, s.tiling = t, s.format = f;
  return s;
}
std::vector<std::byte> scene(uint32_t w, uint32_t h, Tiling t, void (*render)(Canvas&, uint32_t), uint32_t n) {
  return drawn(surface(w, h, t), [&](Canvas& c) { render(c, n); });
}

TEST(Scenes, AreAPureFunctionOfTheFrame) {
  using guest::DesktopWorkload;
  const auto desk = [](uint32_t n) { return scene(1024, 768, Tiling::Linear, DesktopWorkload::render_scene, n); };
  const auto panel = [&](uint32_t n) {  // the top bar: static but for the clock
    const auto all = desk(n);
    return std::vector<std::byte>(all.begin(), all.begin() + 28 * 4096);
  };
  EXPECT_EQ(desk(100), desk(100));
  EXPECT_NE(desk(100), desk(101)) << "the monitor window changes every frame";
  EXPECT_EQ(panel(100), panel(101));
  EXPECT_NE(panel(100), panel(100 + DesktopWorkload::kFps)) << "the clock moved on a second";
  char clock[9];
  DesktopWorkload::clock_text(0, clock);
  EXPECT_STREQ(clock, "23:59:57");
  DesktopWorkload::clock_text(3 * DesktopWorkload::kFps - 1, clock);
  EXPECT_STREQ(clock, "23:59:59");
  DesktopWorkload::clock_text(3 * DesktopWorkload::kFps + 3661 * DesktopWorkload::kFps, clock);
  EXPECT_STREQ(clock, "01:01:01");
  using guest::ConsoleWorkload, guest::VideoWorkload;
  EXPECT_EQ(scene(640, 480, Tiling::Y, ConsoleWorkload::render_scene, 77), scene(640, 480, Tiling::Y, ConsoleWorkload::render_scene, 77));
  EXPECT_NE(scene(640, 480, Tiling::X, VideoWorkload::render_scene, 5), scene(640, 480, Tiling::X, VideoWorkload::render_scene, 6));

  // The cursor: tip at the hotspot, outlined, and its path leaves the screen on every side.
  EXPECT_EQ(DesktopWorkload::cursor_pixel(DesktopWorkload::kHotX, DesktopWorkload::kHotY), 0xFF000000u);
  EXPECT_EQ(DesktopWorkload::cursor_pixel(5, 12), 0xFFFFFFFFu);
  EXPECT_EQ(DesktopWorkload::cursor_pixel(0, 0), 0u);
  int32_t lo = 0, hi = 0;
  for (uint32_t n = 0; n < 2000; ++n) {
    const guest::Point p = DesktopWorkload::cursor_position(n, 1024, 768);
    lo = std::min({lo, p.x, p.y}), hi = std::max(hi, p.x - 1024 + 64);
  }
  EXPECT_LT(lo, 0);
  EXPECT_GT(hi, 0);
}

TEST(Scenes, RenderAFullHdFrameQuickly) {
  const auto ms = [](void (*render)(Canvas&, uint32_t)) {
    const auto t0 = std::chrono::steady_clock::now();
    drawn(surface(1920, 1080, Tiling::X), [&](Canvas& c) {
      for (uint32_t n = 0; n < 10; ++n) render(c, n);
    });
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 10;
  };
  const double desktop = ms(guest::DesktopWorkload::render_scene), console = ms(guest::ConsoleWorkload::render_scene),
               video = ms(guest::VideoWorkload::render_scene);
  std::printf("1920x1080 X-tiled, ms per frame: desktop %.2f, console %.2f, video %.2f\n", desktop, console, video);
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(std::max({desktop, console, video}), 50.0);
#endif
}

// Workloads on a vGPU with virtual vblanks: what the guest's buffers hold after each frame is
// exactly the scene function's picture.
class Workloads : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    gpu->set_vblank_clock(&clock);
    // GVTg_V5_4 shows up to 1920x1200: the mode switch goes to 1080p.
    guest = std::make_unique<InProcessGuest>(create("GVTg_V5_4"), gpu->geometry(), &idle);
    ASSERT_EQ(guest->driver().probe(), Error::None);
    ASSERT_EQ(guest->driver().balloon(), Error::None);
  }
  void TearDown() override {  // the vGPUs leave the clock before the clock goes
    guest.reset();
    gpu.reset();
  }
  // The surface's bytes in guest RAM against draw() into a fresh surface of the same layout.
  template <class F>
  bool shows(const Surface& s, F draw) {
    const std::vector<std::byte> want = drawn(s, draw);
    const std::byte* got = guest->driver().ram().at(s.buffer.gpa, want.size());
    return got && std::memcmp(got, want.data(), want.size()) == 0;
  }
  uint32_t reg(uint64_t off) { return static_cast<uint32_t>(rd(guest->vgpu(), off)); }

  display::VirtualClock clock;
  VirtualIdle idle{clock};
  std::unique_ptr<InProcessGuest> guest;
};

TEST_F(Workloads, RefuseFramesWhenNotRunning) {
  guest::DesktopWorkload desktop;
  guest::ConsoleWorkload console;
  guest::VideoWorkload video;
  guest::ModeSwitchWorkload mode_switch(1);
  EXPECT_EQ(desktop.frame(1), Error::BadArgument);
  EXPECT_EQ(console.frame(1), Error::BadArgument);
  EXPECT_EQ(video.frame(1), Error::BadArgument);
  EXPECT_EQ(mode_switch.frame(1), Error::BadArgument) << "even at its switch frame";
  ASSERT_EQ(desktop.start(guest->display(), guest->driver(), Pipe::A), Error::None);
  EXPECT_EQ(desktop.stop(), Error::None);
  EXPECT_EQ(desktop.frame(2), Error::BadArgument);
  EXPECT_EQ(hw::pipe::kEnable.get(reg(hw::pipe_reg(Pipe::A, hw::pipe::kConf))), 0u) << "stop() turned the pipe off";
}

TEST_F(Workloads, DesktopFlipsAndMovesTheCursor) {
  guest::DesktopWorkload w;
  ASSERT_EQ(w.start(guest->display(), guest->driver(), Pipe::A), Error::None);
  EXPECT_TRUE(shows(w.cursor(), guest::DesktopWorkload::render_cursor));
  EXPECT_EQ(pv(guest->vgpu(), hw::pv::kCursorXHot), 1u);
  for (uint32_t n = 1; n <= 8; ++n) {
    ASSERT_EQ(w.frame(n), Error::None);
    EXPECT_TRUE(shows(w.front(), [n](Canvas& c) { guest::DesktopWorkload::render_scene(c, n); })) << n;
    EXPECT_EQ(reg(hw::plane::reg(Pipe::A, 1, hw::plane::kSurfLive)), w.front().buffer.gm.value());
    const uint32_t pos = reg(hw::cursor::kPos);
    const guest::Point at = guest::DesktopWorkload::cursor_position(n, 1024, 768);
    EXPECT_EQ(hw::cursor::kPosX.get(pos), static_cast<uint32_t>(std::abs(at.x)));
    EXPECT_EQ(hw::cursor::kPosXSign.get(pos), at.x < 0 ? 1u : 0u);
  }
  EXPECT_EQ(w.stop(), Error::None);
}

// Triple buffering: frame n is queued while frame n-1 is on screen, and the guest draws into the
// third buffer, never into the shown or the queued one; one vblank per frame.
TEST_F(Workloads, TripleBufferedDesktopDrawsWhileAFlipIsInFlight) {
  guest::DesktopWorkload w(guest::kMode1024x768at60, 0, 3);
  ASSERT_EQ(w.start(guest->display(), guest->driver(), Pipe::A), Error::None);
  EXPECT_EQ(w.queued(), nullptr);
  const uint64_t live = hw::plane::reg(Pipe::A, 1, hw::plane::kSurfLive);
  const uint64_t frames = hw::pipe_reg(Pipe::A, hw::pipe::kFrameCount);
  std::set<uint64_t> used;
  for (uint32_t n = 1; n <= 9; ++n) {
    const uint32_t frame_before = reg(frames);
    ASSERT_EQ(w.frame(n), Error::None);
    ASSERT_NE(w.queued(), nullptr);
    EXPECT_NE(w.queued()->buffer.gm.value(), w.front().buffer.gm.value());
    EXPECT_EQ(reg(live), w.front().buffer.gm.value()) << "the previous frame is on screen";
    EXPECT_EQ(reg(hw::plane::reg(Pipe::A, 1, hw::plane::kSurf)), w.queued()->buffer.gm.value());
    EXPECT_TRUE(shows(w.front(), [n](Canvas& c) { guest::DesktopWorkload::render_scene(c, n - 1); })) << n;
    EXPECT_TRUE(shows(*w.queued(), [n](Canvas& c) { guest::DesktopWorkload::render_scene(c, n); })) << n;
    EXPECT_EQ(reg(frames) - frame_before, n == 1 ? 0u : 1u) << "the first flip is only queued; then one vblank a frame";
    used.insert(w.queued()->buffer.gm.value());
  }
  EXPECT_EQ(used.size(), 3u) << "all three buffers take turns";
  EXPECT_EQ(w.stop(), Error::None);
}

TEST_F(Workloads, ConsoleUpdatesInPlaceLikeItsScene) {
  guest::ConsoleWorkload w;
  ASSERT_EQ(w.start(guest->display(), guest->driver(), Pipe::A), Error::None);
  const uint64_t gm = w.screen().buffer.gm.value();
  // Through the first scroll (64 rows: from frame 252 on), then jumps forward and back.
  std::vector<uint32_t> frames;
  for (uint32_t n = 1; n < 300; ++n) frames.push_back(n);
  for (uint32_t n : {1000u, 1001u, 1010u, 7u, 8u}) frames.push_back(n);
  for (uint32_t n : frames) {
    ASSERT_EQ(w.frame(n), Error::None);
    if (n % 9 == 0 || (n >= 248 && n < 264) || n >= 300 || n < 10) {
      EXPECT_TRUE(shows(w.screen(), [n](Canvas& c) { guest::ConsoleWorkload::render_scene(c, n); })) << n;
    }
  }
  EXPECT_EQ(reg(hw::plane::reg(Pipe::A, 1, hw::plane::kSurfLive)), gm) << "never flipped";
  EXPECT_EQ(w.stop(), Error::None);
}

TEST_F(Workloads, VideoFlipsTheSpriteEveryFrame) {
  guest::VideoWorkload w;
  ASSERT_EQ(w.start(guest->display(), guest->driver(), Pipe::A), Error::None);
  EXPECT_TRUE(shows(w.primary(), guest::VideoWorkload::render_background));
  for (uint32_t n = 1; n <= 6; ++n) {
    ASSERT_EQ(w.frame(n), Error::None);
    EXPECT_TRUE(shows(w.sprite(), [n](Canvas& c) { guest::VideoWorkload::render_sprite(c, n); })) << n;
    EXPECT_EQ(reg(hw::plane::reg(Pipe::A, 2, hw::plane::kSurfLive)), w.sprite().buffer.gm.value());
    const uint32_t pos = reg(hw::plane::reg(Pipe::A, 2, hw::plane::kPos));
    const guest::Point at = guest::VideoWorkload::sprite_position(n, 1024, 768);
    EXPECT_EQ(std::make_pair(hw::plane::kXY_X.get(pos), hw::plane::kXY_Y.get(pos)),
              std::make_pair(static_cast<uint32_t>(at.x), static_cast<uint32_t>(at.y)));
  }
  EXPECT_EQ(w.stop(), Error::None);
}

TEST_F(Workloads, ModeSwitchRelightsAtTheNewSize) {
  guest::ModeSwitchWorkload w(4);
  ASSERT_EQ(w.start(guest->display(), guest->driver(), Pipe::A), Error::None);
  for (uint32_t n = 1; n <= 6; ++n) {
    ASSERT_EQ(w.frame(n), Error::None) << n;
    EXPECT_EQ(w.mode().width, n < 4 ? 1024u : 1920u);
    EXPECT_EQ(w.front().width, w.mode().width);
    EXPECT_TRUE(shows(w.front(), [n](Canvas& c) { guest::ModeSwitchWorkload::render_scene(c, n); })) << n;
  }
  EXPECT_EQ(hw::trans::kSrcWidth.get(reg(hw::pipe_reg(Pipe::A, hw::trans::kPipeSrc))), 1919u);
  EXPECT_EQ(w.stop(), Error::None);
}

}  // namespace
}  // namespace vgd
