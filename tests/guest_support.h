// A GPU on a VirtualClock with in-process guests that wait on it: time jumps to the next vblank
// whenever a guest idles, so each guest sees its own display's rate and nothing sleeps.
#pragma once

#include <memory>
#include <string>

#include "display/vblank_clock.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd::test {

class ClockedGpuTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    gpu->set_vblank_clock(&clock);
  }
  void TearDown() override { gpu.reset(); }  // its vGPUs leave the clock before the clock goes
  // A guest on a new vGPU of `type` that has detected and ballooned.
  std::unique_ptr<InProcessGuest> boot(const std::string& type = "GVTg_V5_8") {
    auto g = std::make_unique<InProcessGuest>(create(type), gpu->geometry(), &idle);
    EXPECT_EQ(g->driver().probe(), guest::Error::None);
    EXPECT_EQ(g->driver().balloon(), guest::Error::None);
    return g;
  }

  display::VirtualClock clock;
  VirtualIdle idle{clock};
};

}  // namespace vgd::test
