// The display engine as a guest sees it (docs/hardware.md, Pipes … Interrupts): pipes, flips
// latching at vblank or at once, frame/flip counters, the interrupt banks, and the refresh rate
// derived from the timings the guest programmed. Offsets are the documented literals.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "display/refresh.h"
#include "display/vblank_clock.h"
#include "support.h"

namespace vgd {
namespace {

// Pipe A registers (docs/hardware.md, Pipes).
constexpr uint64_t kPipeConfA = 0x70008, kFrameCountA = 0x70040, kFlipCountA = 0x70044;
constexpr uint64_t kPlaneCtlA = 0x70180, kSurfA = 0x7019C, kSurfLiveA = 0x701AC;
constexpr uint64_t kSprCtlA = 0x70280, kSprSurfA = 0x7029C, kSprSurfLiveA = 0x702AC;
constexpr uint64_t kCurCntrA = 0x70080, kCurBaseA = 0x70084, kCurSurfLiveA = 0x700AC;
constexpr uint64_t kMmioFlipPrimaryA = 0x50080;
constexpr uint64_t kIsrA = 0x44400, kImrA = 0x44404, kIirA = 0x44408, kIerA = 0x4440C, kMaster = 0x44200;
constexpr uint32_t kVblankBit = 1u << 0, kPrimaryDone = 1u << 3, kSpriteDone = 1u << 4, kCursorDone = 1u << 6;
constexpr uint32_t kAsyncFlip = 1u << 9;

class DisplayEngineTest : public test::MsiCountingTest {
 protected:
  void enable_irqs(uint32_t bits) {
    wr(*v, kImrA, ~bits);
    wr(*v, kIerA, bits);
    wr(*v, kMaster, 1u << 31);
  }
  void enable_pipe() { wr(*v, kPipeConfA, 1u << 31); }
  uint32_t iir() { return static_cast<uint32_t>(rd(*v, kIirA)); }
};

TEST_F(DisplayEngineTest, EnablingAPipeSetsItsStateBitAndVblanksCountFrames) {
  EXPECT_EQ(rd(*v, kPipeConfA), 0u);
  enable_pipe();
  EXPECT_EQ(rd(*v, kPipeConfA), (1u << 31) | (1u << 30)) << "the host reports the pipe active";
  for (int i = 0; i < 3; ++i) v->vblank();
  EXPECT_EQ(rd(*v, kFrameCountA), 3u);
  wr(*v, kPipeConfA, 0);
  EXPECT_EQ(rd(*v, kPipeConfA), 0u);
  v->vblank();
  EXPECT_EQ(rd(*v, kFrameCountA), 3u) << "a disabled pipe has no vblanks";
}

TEST_F(DisplayEngineTest, SyncFlipLatchesAndCompletesAtTheNextVblank) {
  enable_irqs(kPrimaryDone | kVblankBit);
  wr(*v, kPlaneCtlA, 1u << 31);
  enable_pipe();
  wr(*v, kSurfA, 0x08000000);
  EXPECT_EQ(rd(*v, kSurfLiveA), 0u) << "not latched before the vblank";
  EXPECT_EQ(iir() & kPrimaryDone, 0u);
  EXPECT_EQ(rd(*v, kFlipCountA), 1u);
  const auto report = v->vblank();
  EXPECT_EQ(rd(*v, kSurfLiveA), 0x08000000u);
  EXPECT_EQ(iir() & (kPrimaryDone | kVblankBit), kPrimaryDone | kVblankBit);
  EXPECT_TRUE(report.pipes[0].active);
  EXPECT_EQ(report.pipes[0].latched, display::plane_bit(hw::Plane::Primary));
  EXPECT_EQ(report.pipes[0].async, 0u);
  EXPECT_EQ(v->vblank().pipes[0].latched, 0u) << "a flip latches once";
}

TEST_F(DisplayEngineTest, AsyncFlipCompletesAtOnce) {
  enable_irqs(kPrimaryDone);
  wr(*v, kPlaneCtlA, (1u << 31) | kAsyncFlip);
  enable_pipe();
  const int before = msis;
  wr(*v, kSurfA, 0x08010000);
  EXPECT_EQ(rd(*v, kSurfLiveA), 0x08010000u);
  EXPECT_EQ(iir() & kPrimaryDone, kPrimaryDone);
  EXPECT_EQ(msis, before + 1) << "flip-done delivered without waiting for a vblank";
  const auto report = v->vblank();
  EXPECT_EQ(report.pipes[0].async, display::plane_bit(hw::Plane::Primary));
  EXPECT_EQ(report.pipes[0].latched, 0u);
}

TEST_F(DisplayEngineTest, MmioFlipRegisterTypeFieldSelectsAsync) {
  enable_irqs(kPrimaryDone);
  wr(*v, kPlaneCtlA, 1u << 31);
  enable_pipe();
  wr(*v, kMmioFlipPrimaryA, 0x08020000 | 1);  // type 1 = async
  EXPECT_EQ(rd(*v, kSurfLiveA), 0x08020000u);
  EXPECT_EQ(iir() & kPrimaryDone, kPrimaryDone);
  wr(*v, kIirA, kPrimaryDone);
  wr(*v, kMmioFlipPrimaryA, 0x08030000);  // type 0 = at vblank
  EXPECT_EQ(rd(*v, kSurfLiveA), 0x08020000u);
  v->vblank();
  EXPECT_EQ(rd(*v, kSurfLiveA), 0x08030000u);
  EXPECT_EQ(rd(*v, kFlipCountA), 2u);
}

TEST_F(DisplayEngineTest, SpriteAndCursorFlipsRaiseTheirOwnBits) {
  enable_irqs(kSpriteDone | kCursorDone);
  enable_pipe();
  wr(*v, kSprCtlA, 1u << 31);
  wr(*v, kSprSurfA, 0x08100000);
  wr(*v, kCurCntrA, 0x27 | kAsyncFlip);
  wr(*v, kCurBaseA, 0x08200000);
  EXPECT_EQ(rd(*v, kCurSurfLiveA), 0x08200000u) << "async cursor flip latches at once";
  EXPECT_EQ(iir() & (kSpriteDone | kCursorDone), kCursorDone);
  const auto report = v->vblank();
  EXPECT_EQ(rd(*v, kSprSurfLiveA), 0x08100000u);
  EXPECT_EQ(iir() & kSpriteDone, kSpriteDone);
  EXPECT_EQ(report.pipes[0].latched, display::plane_bit(hw::Plane::Sprite));
  EXPECT_EQ(report.pipes[0].async, display::plane_bit(hw::Plane::Cursor));
}

TEST_F(DisplayEngineTest, SurfaceLiveAndCountersAreReadOnly) {
  enable_pipe();
  wr(*v, kSurfLiveA, 0xDEAD0000);
  wr(*v, kFrameCountA, 77);
  EXPECT_EQ(rd(*v, kSurfLiveA), 0u);
  EXPECT_EQ(rd(*v, kFrameCountA), 0u);
}

TEST_F(DisplayEngineTest, FlipOnAStoppedPipeTakesEffectWithoutAnEvent) {
  enable_irqs(kPrimaryDone);
  wr(*v, kPlaneCtlA, 1u << 31);
  wr(*v, kSurfA, 0x08040000);
  EXPECT_EQ(rd(*v, kSurfLiveA), 0x08040000u);
  EXPECT_EQ(iir(), 0u);
}

TEST_F(DisplayEngineTest, MaskedEventsStayOutOfIirButShowInIsr) {
  enable_irqs(kPrimaryDone);  // vblank masked
  enable_pipe();
  v->vblank();
  EXPECT_EQ(iir() & kVblankBit, 0u);
  EXPECT_EQ(rd(*v, kIsrA) & kVblankBit, kVblankBit);
}

TEST_F(DisplayEngineTest, IirIsWriteOneToClearAndTheMasterFollows) {
  enable_irqs(kVblankBit | kPrimaryDone);
  wr(*v, kPlaneCtlA, 1u << 31);
  enable_pipe();
  wr(*v, kSurfA, 0x08000000);
  v->vblank();
  EXPECT_EQ(iir(), kVblankBit | kPrimaryDone);
  EXPECT_EQ(rd(*v, kMaster), (1u << 31) | (1u << 16)) << "pipe A pending in the master";
  wr(*v, kIirA, kVblankBit);
  EXPECT_EQ(iir(), kPrimaryDone) << "only the written bit clears";
  wr(*v, kIirA, kPrimaryDone);
  EXPECT_EQ(rd(*v, kMaster), 1u << 31);
}

TEST_F(DisplayEngineTest, NothingIsDeliveredWhileTheMasterIsDisabled) {
  wr(*v, kImrA, 0);
  wr(*v, kIerA, kVblankBit);
  enable_pipe();
  v->vblank();
  EXPECT_EQ(msis, 0);
  EXPECT_EQ(iir(), kVblankBit) << "still latched in IIR for a polling guest";
  wr(*v, kMaster, 0xFFFFFFFF);
  EXPECT_EQ(rd(*v, kMaster), (1u << 31) | (1u << 16)) << "only bit 31 is writable";
  EXPECT_EQ(msis, 1) << "enabling the master delivers what is pending";
}

// MSI-style delivery: each interrupt the guest would take is one eventfd count, and nothing is
// signalled for an event the guest masked.
TEST_F(DisplayEngineTest, EventfdSinkCountsEachDeliveredInterrupt) {
  UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  ASSERT_TRUE(efd.valid());
  display::EventfdSink msi(UniqueFd(::dup(efd.get())));
  v->set_interrupt_sink(&msi);
  const auto drain = [&] {
    uint64_t n = 0;
    return ::read(efd.get(), &n, sizeof n) == sizeof n ? n : 0;
  };
  enable_irqs(kVblankBit);
  enable_pipe();
  v->vblank();
  EXPECT_EQ(drain(), 1u);
  wr(*v, kIirA, kVblankBit);
  v->vblank();
  v->vblank();
  EXPECT_EQ(drain(), 2u) << "one count per vblank; the eventfd adds them up";
  wr(*v, kIirA, kVblankBit);
  wr(*v, kImrA, ~0u);  // all masked
  v->vblank();
  EXPECT_EQ(drain(), 0u);
  v->set_interrupt_sink(sink.get());
}

TEST_F(DisplayEngineTest, FailsafeStopsTheDisplay) {
  enable_pipe();
  wr(*v, hw::kPvinfoOffset + 0x808, 1);  // rsv5: insufficient resources
  ASSERT_TRUE(v->failsafe());
  EXPECT_EQ(rd(*v, kPipeConfA) & (1u << 30), 0u);
  wr(*v, kPipeConfA, 1u << 31);
  EXPECT_EQ(rd(*v, kPipeConfA) & (1u << 30), 0u) << "display programming is ignored";
  v->vblank();
  EXPECT_EQ(rd(*v, kFrameCountA), 0u);
  EXPECT_GE(v->mmio_stats().muted_writes, 1u);
}

// --- refresh rate from the programmed mode ---------------------------------------------------

struct RateCase {
  const char* name;
  uint32_t htotal, vtotal, pixel_khz;
  double hz;
};

class RefreshRate : public ::testing::TestWithParam<RateCase> {};

TEST_P(RefreshRate, FollowsTheProgrammedTimingsWithinATenthOfAPercent) {
  const RateCase& c = GetParam();
  // DPLL 1 at the 1350 code (bit rate 270000 kHz) for port D; M/N carry the pixel clock.
  display::ModeRegs m;
  m.dpll_ctrl2 = 1u << 10;  // port D (3): bits 11:10 select DPLL 1
  m.dpll_ctrl1 = 1u << 7;   // DPLL 1 link rate at bits 9:7 = 1 (1350)
  m.link_n = 0x80000;
  m.link_m = static_cast<uint32_t>(uint64_t{c.pixel_khz} * 0x80000 / 270000);
  m.htotal = (c.htotal - 1) << 16;
  m.vtotal = (c.vtotal - 1) << 16;
  const double got = display::refresh_mhz(m) / 1000.0;
  EXPECT_NEAR(got, c.hz, c.hz * 0.001);
}

INSTANTIATE_TEST_SUITE_P(Modes, RefreshRate,
                         ::testing::Values(RateCase{"1080p60", 2200, 1125, 148500, 60.0},
                                           RateCase{"1080p59_94", 2200, 1125, 148352, 59.94},
                                           RateCase{"xga75", 1312, 800, 78750, 75.03},
                                           RateCase{"xga60", 1344, 806, 65000, 60.004}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(RefreshRateDefault, UnprogrammedTimingsMeanSixtyHertz) {
  EXPECT_EQ(display::refresh_mhz(display::ModeRegs{}), 0u);
  EXPECT_EQ(display::period_ns_for_mhz(0), 16666667u);
  EXPECT_EQ(display::period_ns_for_mhz(75000), 13333333u);
}

}  // namespace
}  // namespace vgd
