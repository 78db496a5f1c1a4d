// The README's demo end to end: guests run their workloads on vGPUs with virtual vblanks, the
// host decodes, detiles, converts and composes what each pipe shows and writes a PNG; each PNG
// must equal, pixel for pixel, a picture the test renders itself from the same inputs (the
// workload's scene at the frame it reached, drawn linear; the cursor and the sprite placed and
// blended by the test's own arithmetic).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "fb/png.h"
#include "guest/workloads.h"
#include "sim/display_demo.h"
#include "support.h"

namespace vgd {
namespace {

using guest::Canvas;
using guest::PixelFormat;

struct Linear {
  std::vector<std::byte> bytes;
  Canvas canvas;
  Linear(uint32_t w, uint32_t h, PixelFormat f) : bytes(size_t{w} * h * 4) {
    guest::Surface s;
    s.width = w, s.height = h, s.format = f, s.tiling = hw::Tiling::Linear;
    s.stride = w * (f == PixelFormat::Yuyv ? 2 : 4);
    canvas = Canvas(bytes.data(), bytes.size(), s);
  }
  uint32_t word(size_t i) const {
    uint32_t v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return v;
  }
};

fb::Image opaque_image(const Linear& l, uint32_t w, uint32_t h) {
  fb::Image img{w, h, std::vector<uint32_t>(size_t{w} * h)};
  for (size_t i = 0; i < img.px.size(); ++i) img.px[i] = 0xFF000000u | (l.word(i) & 0xFFFFFFu);
  return img;
}

// Straight alpha over an opaque pixel, rounded to nearest.
uint32_t over(uint32_t dst, uint32_t src) {
  const double a = (src >> 24) / 255.0;
  uint32_t out = 0xFF000000u;
  for (int shift = 0; shift < 24; shift += 8) {
    const double c = (src >> shift & 0xFF) * a + (dst >> shift & 0xFF) * (1 - a);
    out |= static_cast<uint32_t>(std::lround(c)) << shift;
  }
  return out;
}

// BT.601 limited range to R'G'B' with the published 8-bit integer coefficients.
uint32_t bt601(int y, int u, int v) {
  const int c = y - 16, d = u - 128, e = v - 128;
  const auto clip = [](int x) { return static_cast<uint32_t>(std::clamp(x >> 8, 0, 255)); };
  return 0xFF000000u | clip(298 * c + 409 * e + 128) << 16 | clip(298 * c - 100 * d - 208 * e + 128) << 8 |
         clip(298 * c + 516 * d + 128);
}

void desktop_reference(fb::Image& img, uint32_t n) {
  using guest::DesktopWorkload;
  const guest::Point at = DesktopWorkload::cursor_position(n, img.width, img.height);
  for (uint32_t y = 0; y < DesktopWorkload::kCursorSize; ++y)
    for (uint32_t x = 0; x < DesktopWorkload::kCursorSize; ++x) {
      const int64_t sx = at.x + int64_t{x}, sy = at.y + int64_t{y};
      if (sx < 0 || sy < 0 || sx >= img.width || sy >= img.height) continue;
      uint32_t& px = img.at(static_cast<uint32_t>(sx), static_cast<uint32_t>(sy));
      px = over(px, DesktopWorkload::cursor_pixel(x, y));
    }
}

void video_reference(fb::Image& img, uint32_t n) {
  using guest::VideoWorkload;
  Linear sprite(VideoWorkload::kWidth, VideoWorkload::kHeight, PixelFormat::Yuyv);
  VideoWorkload::render_sprite(sprite.canvas, n);
  const guest::Point at = VideoWorkload::sprite_position(n, img.width, img.height);
  for (uint32_t y = 0; y < VideoWorkload::kHeight; ++y)
    for (uint32_t x = 0; x < VideoWorkload::kWidth; x += 2) {
      const auto* m = reinterpret_cast<const uint8_t*>(sprite.bytes.data()) + y * VideoWorkload::kWidth * 2 + x * 2;
      img.at(at.x + x, at.y + y) = bt601(m[0], m[1], m[3]);
      img.at(at.x + x + 1, at.y + y) = bt601(m[2], m[1], m[3]);
    }
}

// What the monitor of a guest running w should show after frame n.
fb::Image reference(Workload w, uint32_t n, uint32_t width, uint32_t height) {
  Linear screen(width, height, PixelFormat::Xrgb8888);
  switch (w) {
    case Workload::Desktop:
    case Workload::ModeSwitch: guest::DesktopWorkload::render_scene(screen.canvas, n); break;
    case Workload::Console: guest::ConsoleWorkload::render_scene(screen.canvas, n); break;
    case Workload::Video: guest::VideoWorkload::render_background(screen.canvas); break;
  }
  fb::Image img = opaque_image(screen, width, height);
  if (w == Workload::Desktop || w == Workload::ModeSwitch) desktop_reference(img, n);
  if (w == Workload::Video) video_reference(img, n);
  return img;
}

size_t differing_pixels(const fb::Image& a, const fb::Image& b, std::string& first) {
  size_t n = 0;
  for (uint32_t y = 0; y < a.height; ++y)
    for (uint32_t x = 0; x < a.width; ++x)
      if ((a.at(x, y) | 0xFF000000u) != (b.at(x, y) | 0xFF000000u) && n++ == 0)
        first = fmt::format("({}, {}): got {:#010x}, want {:#010x}", x, y, a.at(x, y), b.at(x, y));
  return n;
}

class Snapshot : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    gpu->set_vblank_clock(&clock);
    dir = std::filesystem::temp_directory_path() / fmt::format("vgd-snapshot-{}", ::getpid());
  }
  void TearDown() override {
    gpu.reset();
    std::filesystem::remove_all(dir);
  }
  display::VirtualClock clock;
  std::filesystem::path dir;
};

TEST_F(Snapshot, EachWorkloadsPngEqualsAnIndependentlyRenderedReference) {
  DisplayDemoOptions opt;
  opt.seconds = 0.75;  // the mode switch happens halfway
  opt.out_dir = dir.string();
  auto result = run_display_demo(*gpu, clock, opt);
  ASSERT_TRUE(result.has_value()) << result.error();
  ASSERT_EQ(result->rows.size(), 4u);
  EXPECT_NEAR(result->virtual_seconds, 0.75, 0.05);
  for (const DisplayRow& r : result->rows) {
    SCOPED_TRACE(std::string(name(r.workload)));
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_GE(r.frames, 40u) << "a guest presents at its display's rate, not one frame per round";
    EXPECT_NEAR(r.refresh_mhz, 60000, 60) << "the 60 Hz modes the workloads program";
    const uint32_t want_w = r.workload == Workload::ModeSwitch ? 1920 : 1024;
    const uint32_t want_h = r.workload == Workload::ModeSwitch ? 1080 : 768;
    ASSERT_EQ(r.width, want_w);
    ASSERT_EQ(r.height, want_h);
    auto png = fb::read_png(r.snapshot);
    ASSERT_TRUE(png.has_value()) << png.error();
    ASSERT_EQ(png->width, want_w);
    ASSERT_EQ(png->height, want_h);
    std::string first;
    EXPECT_EQ(differing_pixels(*png, reference(r.workload, r.frames, want_w, want_h), first), 0u) << first;
    // And not by accident: the picture of another frame differs.
    if (r.workload != Workload::Console) {
      EXPECT_NE(differing_pixels(*png, reference(r.workload, r.frames - 1, want_w, want_h), first), 0u);
    }
  }
}

TEST_F(Snapshot, AFailingGuestIsReportedAndTheOthersCarryOn) {
  DisplayDemoOptions opt;
  opt.seconds = 0.2;
  opt.out_dir = dir.string();
  // The first has too little RAM for a 1024x768 double buffer.
  opt.guests = {{Workload::Desktop, "GVTg_V5_8", 4ull << 20}, {Workload::Console}};
  auto result = run_display_demo(*gpu, clock, opt);
  ASSERT_TRUE(result.has_value()) << result.error();
  ASSERT_EQ(result->rows.size(), 2u);
  const DisplayRow &bad = result->rows[0], &good = result->rows[1];
  EXPECT_NE(bad.error.find("start"), std::string::npos) << bad.error;
  EXPECT_TRUE(bad.snapshot.empty());
  EXPECT_EQ(bad.frames, 0u);
  EXPECT_TRUE(good.error.empty()) << good.error;
  EXPECT_GE(good.frames, 10u);
  EXPECT_TRUE(std::filesystem::exists(good.snapshot));
}

TEST_F(Snapshot, AnUnwritableDirectoryIsAClearError) {
  DisplayDemoOptions opt;
  opt.out_dir = "/proc/vgd-cannot-be-here";
  auto result = run_display_demo(*gpu, clock, opt);
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().find("/proc/vgd-cannot-be-here"), std::string::npos) << result.error();
}

}  // namespace
}  // namespace vgd
