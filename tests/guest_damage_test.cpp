// The in-process guest's damage hints (docs/hardware.md, Damage hints): the console workload
// switches them on when PVINFO offers them and describes the rows each frame writes; a vGPU that
// does not offer them gets none and shows the same console.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "guest/workloads.h"
#include "guest_support.h"

namespace vgd {
namespace {

using guest::Error;

class GuestDamageTest : public test::ClockedGpuTest {
 protected:
  // Runs the console for `frames` frames and returns every vblank's report of pipe A.
  std::vector<display::VblankReport::Pipe> run_console(bool offered, uint32_t frames) {
    Vgpu& v = create();
    v.offer_damage_hints(offered);
    std::vector<display::VblankReport::Pipe> reports;
    v.set_vblank_listener([&](Vgpu&, const display::VblankReport& r) { reports.push_back(r.pipes[0]); });
    InProcessGuest g(v, gpu->geometry(), &idle);
    EXPECT_EQ(g.driver().probe(), Error::None);
    EXPECT_EQ(g.driver().balloon(), Error::None);
    EXPECT_EQ(g.display().damage_hints_offered(), offered);
    guest::ConsoleWorkload console;
    EXPECT_EQ(console.start(g.display(), g.driver(), hw::Pipe::A), Error::None);
    for (uint32_t n = 1; n <= frames; ++n) EXPECT_EQ(console.frame(n), Error::None);
    EXPECT_EQ(g.display().wait_vblank(hw::Pipe::A), Error::None);  // delivers the last frame's damage
    screen = console.screen();
    pixels.assign(screen.stride / 4 * screen.height, 0);
    std::memcpy(pixels.data(), g.driver().ram().at(screen.buffer.gpa, pixels.size() * 4), pixels.size() * 4);
    EXPECT_EQ(console.stop(), Error::None);
    v.set_vblank_listener({});
    return reports;
  }
  guest::Surface screen;
  std::vector<uint32_t> pixels;
};

TEST_F(GuestDamageTest, TheConsoleDescribesTheRowsItWrites) {
  constexpr uint32_t kFrames = 40;  // 11 lines: no scrolling yet
  const auto reports = run_console(true, kFrames);
  ASSERT_FALSE(reports.empty());
  uint32_t whole = 0, bottom = 0;
  std::vector<bool> covered(768, false);
  for (const auto& r : reports) {
    EXPECT_TRUE(r.hinted);
    const display::DamageSet& d = r.damage[0];
    whole += d.whole() ? 1 : 0;
    for (const display::DamageRect& x : d.rects()) {
      EXPECT_EQ(x.x, 0u);
      EXPECT_EQ(x.w, 1024u) << "whole rows";
      for (uint32_t y = x.y; y < x.y + x.h; ++y) covered[y] = true;
      bottom = std::max(bottom, x.y + x.h);
    }
  }
  EXPECT_LE(whole, 1u) << "only the first vblank (hints switched on) is the whole plane";
  EXPECT_EQ(bottom, (kFrames / guest::ConsoleWorkload::kFramesPerLine + 2) * guest::ConsoleWorkload::kLineHeight)
      << "nothing below the cursor row";
  // Every row that differs from the first picture was described.
  std::vector<std::byte> first(size_t{screen.stride} * screen.height);
  guest::Surface layout = screen;
  guest::Canvas c(first.data(), first.size(), layout);
  guest::ConsoleWorkload::render_scene(c, 0);
  // (The whole-plane report came at the vblank before frame 1 drew anything.)
  for (uint32_t y = 0; y < 768; ++y) {
    const bool changed =
        std::memcmp(first.data() + size_t{y} * screen.stride, pixels.data() + size_t{y} * screen.stride / 4, 1024 * 4) != 0;
    EXPECT_TRUE(!changed || covered[y]) << "row " << y << " changed without a hint";
  }
}

TEST_F(GuestDamageTest, WithoutTheCapabilityThereAreNoHintsAndTheConsoleIsTheSame) {
  const auto reports = run_console(false, 12);
  for (const auto& r : reports) {
    EXPECT_FALSE(r.hinted);
    EXPECT_TRUE(r.damage[0].empty());
  }
  std::vector<std::byte> want(size_t{screen.stride} * screen.height);
  guest::Canvas c(want.data(), want.size(), screen);
  guest::ConsoleWorkload::render_scene(c, 12);
  EXPECT_EQ(std::memcmp(want.data(), pixels.data(), want.size()), 0);
}

}  // namespace
}  // namespace vgd
