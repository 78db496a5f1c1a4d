// A hostile guest on the display engine and its interrupts (docs/guest-attacks.md): modes and
// refresh rates past the limits, host-owned bits, async-flip storms, and status or reserved
// interrupt bits at every access width. The harness is attack_support.h.
#include "attack_support.h"

namespace vgd::test {
namespace {

using hw::Pipe;
namespace irq = hw::irq;

constexpr uint64_t kSurfA = hw::plane::reg(Pipe::A, 1, hw::plane::kSurf);
constexpr uint64_t kSurfLiveA = hw::plane::reg(Pipe::A, 1, hw::plane::kSurfLive);

// Lights pipe A with link M / N and totals chosen by hand (program_mode covers 1 Hz and up).
void timings(Ctx& c, uint32_t link_m, uint32_t link_n, uint32_t total_minus_1) {
  test::program_mode(c.a, Pipe::A, 800, 600, 60);
  c.ok(hw::pipe_reg(Pipe::A, hw::trans::kLinkM1), link_m);
  c.ok(hw::pipe_reg(Pipe::A, hw::trans::kLinkN1), link_n);
  c.ok(hw::trans::kHtotal, total_minus_1 << 16 | 799);
  c.ok(hw::trans::kVtotal, total_minus_1 << 16 | 599);
  c.ok(kPipeConfA, kPipeEnable);
  EXPECT_TRUE(c.a.display().active(Pipe::A)) << "a clamped rate still lights the pipe";
}

// Counts the async flips the host hears of at once (direct flip's engine, docs/direct-flip.md).
struct AsyncEars final : DisplayObserver {
  void on_vblank(const display::VblankReport& r) override { async_at_vblank |= r.pipes[0].async; }
  void on_pipe_state(Pipe, bool) override {}
  void on_async_flip(Pipe, hw::Plane) override { ++heard; }
  int heard = 0;
  uint8_t async_at_vblank = 0;
};

std::vector<Attack> attacks() {
  using A = GuestAttack;
  return {
      // Display limits (docs/design.md "Display"): GVTg_V5_8 shows at most 1024x768, and the
      // vblank timer runs at 24..240 Hz whatever the timings say.
      {"ModeBeyondTheTypesMaximum", A::ModeTooLarge, 1, {},
       [](Ctx& c) {
         test::program_mode(c.a, Pipe::A, 1920, 1080, 60);
         c.ok(kPipeConfA, kPipeEnable);
       },
       [](Ctx& c) {
         EXPECT_EQ(c.rd(kPipeConfA), kPipeEnable) << "enable bit stored, pipe not lit";
         EXPECT_FALSE(c.a.vblank().pipes[0].active);
       }},
      {"LitPipeGrownPastTheMaximum", A::ModeTooLarge, 3, {},
       [](Ctx& c) {
         test::program_mode(c.a, Pipe::A, 800, 600, 60);
         c.ok(kPipeConfA, kPipeEnable);
         c.ok(hw::trans::kPipeSrc, 0xFFFFFFFF);     // 8192x4096, the fields' largest
         c.ok(hw::trans::kHtotal, 0x1FFF, 2);  // 2 bytes: hactive alone, still refused
         c.ok(hw::trans::kVtotal, 1249u << 16 | 1023);
       },
       [](Ctx& c) {
         EXPECT_EQ(c.rd(hw::trans::kPipeSrc), 799u << 16 | 599) << "the lit pipe keeps its mode";
         EXPECT_TRUE(c.a.display().active(Pipe::A));
       }},
      {"RefreshOfOneHertz", A::RefreshOutOfRange, 1, {},
       [](Ctx& c) {
         test::program_mode(c.a, Pipe::A, 800, 600, 1);
         c.ok(kPipeConfA, kPipeEnable);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.display().refresh_mhz(), 24'000u); }},
      {"RefreshRoundingToZeroHertz", A::RefreshOutOfRange, 1, {},
       [](Ctx& c) { timings(c, 1, 0xFFFFFF, 0x1FFF); },  // 32 Hz pixel clock, 8192² pixels
       [](Ctx& c) { EXPECT_EQ(c.a.display().refresh_mhz(), 24'000u); }},
      {"RefreshOfTenKilohertz", A::RefreshOutOfRange, 1, {},
       [](Ctx& c) {
         test::program_mode(c.a, Pipe::A, 800, 600, 10'000);
         c.ok(kPipeConfA, kPipeEnable);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.display().refresh_mhz(), 240'000u); }},
      {"RefreshOfTheFieldsLargest", A::RefreshOutOfRange, 1, {},
       [](Ctx& c) { timings(c, 0xFFFFFF, 1, 1); },  // M 2^24 - 1 at 270 MHz over 2x2 pixels
       [](Ctx& c) { EXPECT_EQ(c.a.display().refresh_mhz(), 240'000u); }},
      // No link M at all describes no mode: the timer's default rate, not an attack.
      {"TimingsDescribingNoMode", std::nullopt, 0, {},
       [](Ctx& c) { timings(c, 0, 2700, 1999); },
       [](Ctx& c) { EXPECT_EQ(c.a.display().refresh_mhz(), 0u); }},
      // docs/hardware.md, Pipes: the state bit, frame and flip counters and SURFLIVE are the host's.
      {"ForgedHostOwnedBits", A::DisplayHostBitsWrite, 4, {},
       [](Ctx& c) {
         c.ok(kPipeConfA, 1u << 30);  // state without enable
         c.ok(hw::pipe::kFrameCount, 0xFFFFFFFF);
         c.ok(hw::pipe::kFlipCount + 3, 0x80, 1);
         c.ok(kSurfLiveA, gm32(c.b_fb.gm));  // the neighbour's framebuffer, as if latched
       },
       [](Ctx& c) {
         EXPECT_FALSE(c.a.display().active(Pipe::A));
         EXPECT_EQ(c.rd(kSurfLiveA), 0u);
         EXPECT_EQ(c.rd(hw::pipe::kFrameCount), 0u);
         EXPECT_EQ(c.query().error().kind, Kind::NoPlane);
       }},
      {"AsyncFlipStorm", A::AsyncFlipStorm, 40 - 16, {},
       [](Ctx& c) {
         SmallPrimary::light(c.a, 1, hw::plane::kAsyncFlip.mask());
         auto ears = std::make_shared<AsyncEars>();
         c.a.set_display_observer(ears.get());
         for (int i = 0; i < 40; ++i) c.ok(kSurfA, SmallPrimary::surface(c.a, 0));
         EXPECT_EQ(ears->heard, 16) << "the host hears of at most 16 a vblank at once";
         EXPECT_EQ(c.rd(kSurfLiveA), SmallPrimary::surface(c.a, 0)) << "every flip latched for the guest";
         c.a.vblank();
         EXPECT_EQ(ears->async_at_vblank, display::plane_bit(hw::Plane::Primary)) << "... and of the rest here";
         for (int i = 0; i < 16; ++i) c.ok(kSurfA, SmallPrimary::surface(c.a, 0));  // a new vblank: allowed
         EXPECT_EQ(ears->heard, 32);
         c.a.set_display_observer(nullptr);
       }},
      // docs/hardware.md, Interrupts: a write of any width changes only its bytes; ISR is
      // read-only and the master's reserved bits read 0.
      {"StatusBitsForgedAtEveryWidth", A::IrqStatusWrite, 4, {},
       [](Ctx& c) {
         c.ok(irq::isr(Pipe::A), 0xFF, 1);
         c.ok(irq::isr(Pipe::B) + 2, 0xFFFF, 2);
         c.ok(irq::isr(Pipe::C), irq::kVblank);
         c.ok(irq::isr(Pipe::A), 0xFFFFFFFF, 8);  // ISR A and IMR A (0: stored)
       },
       [](Ctx& c) {
         for (Pipe p : hw::kPipes) EXPECT_EQ(c.rd(irq::isr(p)), 0u);
         EXPECT_EQ(c.a.interrupts_raised(), 0u);
       }},
      {"MasterReservedBits", A::IrqMasterReserved, 2, {},
       [](Ctx& c) {
         c.ok(irq::kMaster, 0xFFFFFFFF);
         c.ok(irq::kMaster + 2, 0xF8, 1);  // bits 19..23
         c.ok(irq::kMaster + 3, 0x80, 1);  // the enable bit alone: fine
       },
       [](Ctx& c) { EXPECT_EQ(c.rd(irq::kMaster), irq::kMasterEnable) << "no pipe pending, nothing reserved"; }},
      {"UnalignedInterruptWrites", A::MmioMisaligned, 3, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(irq::iir(Pipe::A) + 1, 2, 0xFFFF), S::Misaligned);
         EXPECT_EQ(c.w(irq::ier(Pipe::A) + 2, 4, 0xFFFFFFFF), S::Misaligned);
         EXPECT_EQ(c.w(irq::imr(Pipe::A), 8, ~0ull), S::Misaligned);
       },
       [](Ctx& c) {
         EXPECT_EQ(c.rd(irq::ier(Pipe::A)), 0u);
         EXPECT_EQ(c.rd(irq::imr(Pipe::A)), 0u);
       }},
      // Narrow writes to IMR, IER and IIR are defined (their bytes only), so not attacks.
      {"NarrowMaskAndEnableWrites", std::nullopt, 0, {},
       [](Ctx& c) {
         c.ok(irq::imr(Pipe::A) + 1, 0xFF, 1);
         c.ok(irq::ier(Pipe::A), irq::kVblank, 2);
         c.ok(irq::iir(Pipe::A) + 3, 0xFF, 1);
       },
       [](Ctx& c) {
         EXPECT_EQ(c.rd(irq::imr(Pipe::A)), 0xFF00u);
         EXPECT_EQ(c.rd(irq::ier(Pipe::A)), irq::kVblank);
       }},
  };
}

class MaliciousDisplay : public AttackTest, public ::testing::WithParamInterface<Attack> {};

TEST_P(MaliciousDisplay, IsCountedContainedAndSurvived) { check(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Attacks, MaliciousDisplay, ::testing::ValuesIn(attacks()),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace vgd::test
