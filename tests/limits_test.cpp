// What a guest cannot exceed (docs/design.md "Display", "Tearing control"): its type's maximum
// resolution, the 24..240 Hz refresh range and, under tearing = copy, the host memory its shadow
// frames take. Each is refused or clamped, counted, and the guest keeps being served. Time is a
// VirtualClock: periods are checked to the nanosecond, nothing sleeps.
#include <gtest/gtest.h>

#include "exporter/tearing.h"
#include "guest_support.h"
#include "plane_support.h"

namespace vgd {
namespace {

using guest::Error;
using hw::Pipe;
using hw::Plane;
using test::expect_error;
using test::Kind;

constexpr uint64_t kMagic = 0x4776544776544776;  // PVINFO magic (reference §1.1)
constexpr uint32_t kEnable = 1u << 31, kActive = 1u << 30;
constexpr uint64_t kPipeConfA = 0x70008, kPipeSrcA = 0x6001C, kHtotalA = 0x60000;

uint64_t misbehaviour(const Vgpu& v) { return v.counters().refused() + v.mmio_stats().refused(); }

// Guests boot on GVTg_V5_8: at most 1024x768.
class LimitsTest : public test::ClockedGpuTest {
 protected:
  Error modeset(InProcessGuest& g, const guest::Mode& m) {
    guest::Surface s;
    const Error e = g.display().create_surface(m.width, m.height, guest::PixelFormat::Xrgb8888, hw::Tiling::X, s);
    return e != Error::None ? e : g.display().modeset(Pipe::A, m, s);
  }
  static decode::Decoded primary(const Vgpu& v) {
    return decode::decode_plane(decode::snapshot(v.vregs(), Pipe::A), Plane::Primary, v.ggtt());
  }
  // Vblanks of pipe A over one second of virtual time.
  uint64_t vblanks_in_a_second(const Vgpu& v) {
    const uint64_t before = v.display().stats().vblanks[0];
    clock.advance_by(1'000'000'000);
    return v.display().stats().vblanks[0] - before;
  }
};

TEST_F(LimitsTest, AModeAboveTheTypesMaximumLeavesThePipeOffAndTheGuestServed) {
  auto g = boot();
  Vgpu& v = g->vgpu();
  EXPECT_EQ(modeset(*g, guest::kMode1920x1080at60), Error::Timeout) << "the host did not light it";
  EXPECT_EQ(v.counters().attacks[GuestAttack::ModeTooLarge], 1u);
  EXPECT_EQ(misbehaviour(v), 1u) << "counted once, by its own counter";
  EXPECT_EQ(rd(v, kPipeConfA) & (kEnable | kActive), kEnable) << "the guest's request stays; no state bit";
  EXPECT_FALSE(decode::first_active_pipe(v.vregs()));
  expect_error(primary(v), Kind::NoPlane, "pipe not active");
  EXPECT_EQ(vblanks_in_a_second(v), 0u) << "no vblank timer for a pipe that is off";

  // Still served: PVINFO, graphics memory and, with a mode its type allows, the display.
  EXPECT_EQ(g->mmio().read(MmioOffset(hw::kPvinfoOffset), 8), kMagic);
  guest::Buffer extra;
  ASSERT_EQ(g->driver().alloc_buffer(4096, guest::Placement::Hidden, extra), Error::None);
  EXPECT_FALSE(v.ggtt().translate(extra.gm)->scratch);
  ASSERT_EQ(modeset(*g, guest::kMode1024x768at60), Error::None);
  EXPECT_EQ(vblanks_in_a_second(v), 60u);
  const auto p = primary(v);
  ASSERT_TRUE(p) << p.error().reason;
  EXPECT_EQ(p->width, 1024u);
  EXPECT_EQ(p->height, 768u);
  EXPECT_EQ(v.counters().attacks[GuestAttack::ModeTooLarge], 1u);
}

TEST_F(LimitsTest, ALitPipeCannotBeResizedPastTheMaximum) {
  auto g = boot();
  Vgpu& v = g->vgpu();
  ASSERT_EQ(modeset(*g, guest::kMode1024x768at60), Error::None);
  const uint64_t src = rd(v, kPipeSrcA), htotal = rd(v, kHtotalA);
  wr(v, kPipeSrcA, 1919u << 16 | 1079);                            // the pipe source
  wr(v, kHtotalA, (htotal & 0xFFFF0000) | 1919);                  // the transcoder's active width
  wr(v, kPipeSrcA + 2, 1919, 2);                                   // half a register, the width half
  EXPECT_EQ(rd(v, kPipeSrcA), src) << "dropped";
  EXPECT_EQ(rd(v, kHtotalA), htotal);
  EXPECT_EQ(v.counters().attacks[GuestAttack::ModeTooLarge], 3u);
  EXPECT_EQ(misbehaviour(v), 3u);
  EXPECT_EQ(rd(v, kPipeConfA) & kActive, kActive) << "the pipe keeps running";
  EXPECT_EQ(vblanks_in_a_second(v), 60u);
  auto p = primary(v);
  ASSERT_TRUE(p) << p.error().reason;
  EXPECT_EQ(p->width, 1024u);
  wr(v, kPipeSrcA, 799u << 16 | 599);  // smaller is fine
  EXPECT_EQ(rd(v, kPipeSrcA), 799u << 16 | 599);
  p = primary(v);
  ASSERT_TRUE(p) << p.error().reason;
  EXPECT_EQ(p->width, 800u);
  EXPECT_EQ(v.counters().attacks[GuestAttack::ModeTooLarge], 3u);
}

// The sprite has its own size register: it is refused when larger than the pipe source, so no
// plane a consumer maps or composes exceeds the mode (and so the type's maximum).
TEST_F(LimitsTest, NoPlaneIsLargerThanTheMode) {
  Vgpu& v = create();
  decode::PipeSnapshot s;
  s.pipeconf = kEnable | kActive;
  s.pipesrc = 1023u << 16 | 767;
  s.sprite.ctl = kEnable | 4u << 24;  // XRGB8888, linear
  s.sprite.stride = 8192 / 64;
  s.sprite.surflive = static_cast<uint32_t>(v.resources().aperture.begin.value());
  for (uint32_t size : {767u << 16 | 1024, 768u << 16 | 1023, 4095u << 16 | 4095}) {  // (height-1) << 16 | width-1
    s.sprite.size = size;
    expect_error(decode::decode_plane(s, Plane::Sprite, v.ggtt()), Kind::Invalid, "do not fit the 1024x768 pipe source");
  }
  s.sprite.size = 767u << 16 | 1023;  // as large as the mode: refused only for its unmapped pages
  expect_error(decode::decode_plane(s, Plane::Sprite, v.ggtt()), Kind::Fault, "not mapped");
}

struct RateCase {
  const char* name;
  uint32_t programmed_hz;
  uint32_t runs_mhz;   // the rate the vblank timer runs at
  uint64_t period_ns;  // its period, round(10^12 / mHz)
  uint64_t counted;
};

class RefreshLimits : public LimitsTest, public ::testing::WithParamInterface<RateCase> {};

TEST_P(RefreshLimits, TheVblankTimerStaysWithin24To240Hertz) {
  const RateCase& c = GetParam();
  Vgpu& v = create();
  test::program_mode(v, Pipe::A, 800, 600, c.programmed_hz);
  wr(v, kPipeConfA, kEnable);
  EXPECT_EQ(rd(v, kPipeConfA) & kActive, kActive) << "a bad rate is clamped, not refused";
  EXPECT_EQ(v.display().refresh_mhz(), c.runs_mhz);
  EXPECT_EQ(v.counters().attacks[GuestAttack::RefreshOutOfRange], c.counted);
  EXPECT_EQ(misbehaviour(v), c.counted);
  const uint64_t start = clock.now_ns();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(clock.advance_to_next());
  EXPECT_EQ(clock.now_ns() - start, 10 * c.period_ns);
  EXPECT_EQ(v.display().stats().vblanks[0], 10u);
  EXPECT_EQ(rd(v, hw::kPvinfoOffset, 8), kMagic) << "the guest is still served";
}

INSTANTIATE_TEST_SUITE_P(Rates, RefreshLimits,
                         ::testing::Values(RateCase{"OneHertz", 1, 24'000, 41'666'667, 1},
                                           RateCase{"Lowest", 24, 24'000, 41'666'667, 0},
                                           RateCase{"Sixty", 60, 60'000, 16'666'667, 0},
                                           RateCase{"Highest", 240, 240'000, 4'166'667, 0},
                                           RateCase{"HundredKilohertz", 100'000, 240'000, 4'166'667, 1}),
                         [](const auto& p) { return std::string(p.param.name); });

// --- the copy budget ---

using exporter::ShadowFrames;

TEST(ShadowBudget, DefaultsToTwoTileAlignedFramesAtTheTypesMaximum) {
  auto gpu = test::make_gpu();
  EXPECT_EQ(ShadowFrames::default_budget(*gpu->find_type("GVTg_V5_8")), 2ull * 4096 * 768);  // 1024x768: 8 X tiles a row
  EXPECT_EQ(ShadowFrames::default_budget(*gpu->find_type("GVTg_V5_4")), 2ull * 7680 * 1216);  // 1920x1200: 1216 = 19 × 64
}

class ShadowBudgetTest : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create();
    test::SmallPrimary::light(*v, 4);  // 64x64 XRGB8888, 16 KiB surfaces
    wr(*v, test::SmallPrimary::reg(hw::plane::kSurf), test::SmallPrimary::surface(*v, 0));
    v->vblank();
  }
  decode::Decoded primary() const {
    return decode::decode_plane(decode::snapshot(v->vregs(), Pipe::A), Plane::Primary, v->ggtt());
  }
  void set_stride(uint32_t bytes) { wr(*v, test::SmallPrimary::reg(hw::plane::kStride), bytes / 64); }
  static exporter::GfxPlaneInfo request() {
    exporter::GfxPlaneInfo q;
    q.argsz = sizeof q, q.flags = exporter::kFlagDmabuf, q.drm_plane_type = exporter::kPlanePrimary;
    return q;
  }

  Vgpu* v = nullptr;
};

TEST_F(ShadowBudgetTest, AFrameOverTheBudgetIsRefusedCountedAndNeverAllocated) {
  constexpr uint64_t kBudget = 32 * 1024;  // two 16 KiB frames
  ShadowFrames s(v->ram_ref(), v->type(), kBudget);
  ASSERT_TRUE(s.capture(*primary()));
  ASSERT_TRUE(s.capture(*primary()));
  EXPECT_EQ(s.shadow_bytes(), kBudget);
  const uint32_t front = s.front_id();

  set_stride(512);  // the same 64x64 window in 512-byte rows: a 32 KiB frame
  const auto big = primary();
  ASSERT_TRUE(big) << big.error().reason;
  EXPECT_FALSE(s.capture(*big));
  EXPECT_EQ(s.counters().copy_over_budget, 1u);
  EXPECT_EQ(s.counters().copies, 2u);
  EXPECT_EQ(s.counters().copy_failures, 0u);
  EXPECT_EQ(s.shadow_bytes(), kBudget) << "nothing allocated past the budget";
  EXPECT_EQ(s.front_id(), front) << "the consumer sees no new frame";
  const auto q = s.query(exporter::ConsumerKey{1}, request(), big);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->dmabuf_id, front);
  EXPECT_EQ(q->stride, 256u) << "the last frame that fitted";

  set_stride(256);  // back within the budget: copies resume
  EXPECT_TRUE(s.capture(*primary()));
  EXPECT_EQ(s.counters().copies, 3u);
}

// A guest at a mode its type allows can still make a huge plane with a wide stride: 1024x768
// in 65,472-byte rows is 48 MiB, eight times GVTg_V5_8's default budget.
TEST_F(ShadowBudgetTest, AHugeStrideAtALegalModeCannotGrowTheDaemon) {
  constexpr uint32_t kStride = 1023 * 64;  // the widest PLANE_STRIDE
  constexpr uint64_t kPages = uint64_t{kStride} * 768 / kPageSize;
  const Gma base = v->resources().aperture.begin;
  for (uint64_t k = 0; k < kPages; ++k) wr(*v, test::kGtt + 8 * (base.page() + k), test::pte(test::kFrame0 + k), 8);
  wr(*v, hw::trans::kPipeSrc, 1023u << 16 | 767);
  set_stride(kStride);
  const auto plane = primary();
  ASSERT_TRUE(plane) << plane.error().reason;
  ASSERT_EQ(plane->size, uint64_t{kStride} * 768);

  ShadowFrames s(v->ram_ref(), v->type());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(s.capture(*plane)) << "each consumer query tries again, and is refused";
  EXPECT_EQ(s.counters().copy_over_budget, 3u);
  EXPECT_EQ(s.counters().copies, 0u);
  EXPECT_EQ(s.shadow_bytes(), 0u);
  const auto q = s.query(exporter::ConsumerKey{1}, request(), plane);
  EXPECT_FALSE(q) << "no frame to offer";
  EXPECT_EQ(s.shadow_bytes(), 0u);
  EXPECT_EQ(misbehaviour(*v), 0u) << "a wide stride is legal; only the copy is refused";
}

}  // namespace
}  // namespace vgd
