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
#include "reference_pictures.h"
#include "sim/display_demo.h"
#include "support.h"

namespace vgd {
namespace {

using test::differing_pixels;
using test::reference;

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
