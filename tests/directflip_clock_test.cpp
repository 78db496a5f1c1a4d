// One clock (docs/direct-flip.md, One clock): while a pipe is on a host output with vblank
// events, the guest's vblank timer runs on the host CRTC's grid a lead before each host vblank,
// so a flip the guest makes before that tick is on screen at that very host vblank, and the
// guest's vblank advances exactly once per host vblank whatever rate it programmed. Both clocks
// are virtual (the vGPU's VirtualClock and the monitor's), stepped together.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "directflip/clock_lock.h"
#include "directflip_support.h"
#include "display/vblank_clock.h"

namespace vgd {
namespace {

using namespace test;  // the fixture's names (directflip_support.h)

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kP = 16'666'667;      // the monitor's 60 Hz
constexpr uint64_t kStep = 100'000;      // both clocks move together in steps of 0.1 ms
constexpr uint64_t kGuestStart = 5 * kMs;  // the guest's own grid starts out of phase with the host's

// --- The policy ----------------------------------------------------------------------------------

TEST(ClockLockPolicy, TheLeadCoversTheSlowestRecentFrameWithAMarginWithinHalfAPeriod) {
  using directflip::lead_ns;
  EXPECT_EQ(lead_ns({}, kP), directflip::kDefaultLeadNs) << "nothing measured yet";
  const std::vector<uint64_t> fast = {20'000, 35'000, 12'000};
  EXPECT_EQ(lead_ns(fast, kP), directflip::kMinLeadNs) << "never below the minimum";
  const std::vector<uint64_t> slow = {300'000, 2'400'000, 900'000};
  EXPECT_EQ(lead_ns(slow, kP), 2'400'000 + directflip::kLeadMarginNs);
  const std::vector<uint64_t> scaled = {9'000'000};
  EXPECT_EQ(lead_ns(scaled, kP), kP / 2) << "a guest frame needs the other half";
}

TEST(ClockLockPolicy, PhaseErrorsAreFoldedIntoHalfAPeriodEitherWay) {
  using directflip::phase_error_ns;
  EXPECT_EQ(phase_error_ns(1000, 1000 + 5 * kP, kP), 0);
  EXPECT_EQ(phase_error_ns(1000, 1300 + 3 * kP, kP), 300);
  EXPECT_EQ(phase_error_ns(1000 + 7 * kP, 700, kP), -300);
  EXPECT_EQ(phase_error_ns(0, kP - 10, kP), -10);
  EXPECT_EQ(phase_error_ns(5 * kP, kP / 2 - 1, kP), static_cast<int64_t>(kP / 2 - 1));
}

// --- End to end -----------------------------------------------------------------------------------

class DirectFlipClockTest : public test::DirectFlipTest {
 protected:
  void SetUp() override {
    DirectFlipTest::SetUp();
    gpu->set_vblank_clock(&clk);  // the vGPU's timer is on clk
  }
  void TearDown() override {
    link.reset();
    g.reset();
    gpu.reset();  // its vGPUs leave clk, which goes next
  }
  void start(bool vblank_events = true, const guest::Mode& mode = guest::kMode1024x768at60) {
    clk.advance_to(kGuestStart);
    boot(kW, kH, true, vblank_events, mode);
    g->vgpu().set_vblank_listener([this](Vgpu& v, const display::VblankReport&) { ticks.push_back(v.last_vblank_ns()); });
  }
  // Both clocks to t, the monitor's events handed to the link after each step.
  void run_to(uint64_t t) {
    const hostdisplay::EventHandlers h{[this](const hostdisplay::FlipEvent& e) {
                                         flips.push_back(e);
                                         if (link) link->on_flip(e);
                                       },
                                       [this](const hostdisplay::VblankEvent& e) {
                                         host.push_back(e);
                                         if (link) link->on_host_vblank(e);
                                       }};
    for (uint64_t now = clk.now_ns(); now < t;) {
      now = std::min(t, now + kStep);
      clk.advance_to(now);
      mon->advance_to(now);
      mon->dispatch(h);
    }
  }
  uint64_t next_host() const { return static_cast<uint64_t>(host.back().timestamp.count()) + kP; }
  uint64_t lead() const { return link->counters().lead_us * 1000; }
  // Guest ticks in (from, to].
  size_t ticks_in(uint64_t from, uint64_t to) const {
    return static_cast<size_t>(std::count_if(ticks.begin(), ticks.end(), [&](uint64_t t) { return t > from && t <= to; }));
  }
  // The guest flips to frame `n` (drawn first) right after a host vblank; it must be on screen
  // at the next one, with that vblank's sequence on its page-flip event and flip-done raised.
  void flip_lands_at_the_next_host_vblank(uint32_t n) {
    const guest::Surface& s = n % 2 ? back : front;
    draw(s, n);
    take_flip_done();
    ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, s), Error::None);
    const uint64_t h = next_host();
    const size_t shown = flips.size();
    run_to(h - 1);
    EXPECT_FALSE(flip_done()) << "frame " << n << ": flip-done before the host showed it";
    run_to(h);
    ASSERT_EQ(flips.size(), shown + 1) << "frame " << n << ": no page flip at the host vblank after the flip";
    EXPECT_EQ(flips.back().timestamp.count(), static_cast<int64_t>(h));
    EXPECT_EQ(flips.back().sequence, host.back().sequence) << "frame " << n;
    EXPECT_EQ(flips.back().sequence, mon->vblank_count(crtc));
    std::string where;
    EXPECT_EQ(mismatches(n, &where), 0u) << "frame " << n << ": " << where;
    EXPECT_TRUE(flip_done()) << "frame " << n;
  }

  display::VirtualClock clk{0};
  std::vector<uint64_t> ticks;  // the guest's vblanks, nominal times
  std::vector<hostdisplay::VblankEvent> host;
  std::vector<hostdisplay::FlipEvent> flips;
};

TEST_F(DirectFlipClockTest, TheGuestTicksALeadBeforeEachHostVblankAndItsFlipShowsAtThatVblank) {
  start();
  run_to(10 * kP + kStep);
  ASSERT_TRUE(link->clock().host()) << link->clock().why();
  ASSERT_TRUE(g->vgpu().vblank_locked());
  EXPECT_EQ(lead(), directflip::kMinLeadNs) << "virtual time: the link's work takes none, the minimum lead";
  EXPECT_EQ(g->vgpu().next_vblank_ns(), next_host() - lead());
  std::string where;
  EXPECT_EQ(mismatches(0, &where), 0u) << where;
  for (uint32_t n = 1; n <= 20; ++n) flip_lands_at_the_next_host_vblank(n);
  const auto c = link->counters();
  EXPECT_EQ(c.busy_deferrals, 0u);
  EXPECT_EQ(c.host_vblanks, host.size());
  EXPECT_LE(c.clock_aligns, 3u) << "aligned once (and once more when the lead was learnt), not every frame";
}

TEST_F(DirectFlipClockTest, AGuestAtAnotherRefreshTicksExactlyOncePerHostVblank) {
  start(true, guest::kMode1024x768at75);  // its own clock would beat against the host's 60 Hz
  run_to(10 * kP + kStep);
  ASSERT_TRUE(g->vgpu().vblank_locked());
  const size_t first = host.size();
  run_to(next_host() + 300 * kP - kStep);
  ASSERT_EQ(host.size(), first + 300);
  for (size_t k = first; k + 1 < host.size(); ++k) {
    const auto a = static_cast<uint64_t>(host[k].timestamp.count()), b = static_cast<uint64_t>(host[k + 1].timestamp.count());
    ASSERT_EQ(ticks_in(a, b), 1u) << "between host vblanks " << k << " and " << k + 1;
    ASSERT_EQ(ticks_in(a, b - lead()), 1u) << "the tick leads host vblank " << k + 1;
  }
  // A guest mode change while locked does not undo the lock.
  ASSERT_EQ(g->display().modeset(Pipe::A, guest::kMode1024x768at60, front), Error::None);
  const size_t after = host.size();
  run_to(next_host() + 100 * kP - kStep);
  for (size_t k = after; k + 1 < host.size(); ++k)
    ASSERT_EQ(ticks_in(static_cast<uint64_t>(host[k].timestamp.count()), static_cast<uint64_t>(host[k + 1].timestamp.count()) - lead()), 1u)
        << "host vblank " << k + 1 << " after the guest's mode change";
  EXPECT_TRUE(g->vgpu().vblank_locked());
}

TEST_F(DirectFlipClockTest, AHostPhaseJumpReAlignsTheGuest) {
  start();
  run_to(10 * kP + kStep);
  const uint64_t aligns = link->counters().clock_aligns;
  // The output goes dark and is lit again 5.3 ms later: its vblanks on another grid.
  hostdisplay::State s;
  s.crtcs.push_back({crtc, false, link->planes().mode, link->planes().connector_id});
  ASSERT_TRUE(mon->commit(s, hostdisplay::kAllowModeset));
  run_to(clk.now_ns() + 5'300'000);
  const uint64_t relit = clk.now_ns();
  s.crtcs.front().active = true;
  ASSERT_TRUE(mon->commit(s, hostdisplay::kAllowModeset));
  run_to(relit + 3 * kP + kStep);
  EXPECT_EQ(static_cast<uint64_t>(host.back().timestamp.count()), relit + 3 * kP) << "the host's new grid";
  EXPECT_GT(link->counters().clock_aligns, aligns);
  EXPECT_EQ(g->vgpu().next_vblank_ns(), next_host() - lead()) << "the guest on the new grid";
  for (uint32_t n = 1; n <= 5; ++n) flip_lands_at_the_next_host_vblank(n);
}

TEST_F(DirectFlipClockTest, WithoutHostVblankEventsTheGuestKeepsItsOwnClockAndStillFlips) {
  start(/*vblank_events=*/false);
  EXPECT_FALSE(link->clock().host());
  EXPECT_NE(link->clock().why().find("no vblank interrupts"), std::string::npos) << link->clock().why();
  run_to(10 * kP + kStep);
  EXPECT_FALSE(g->vgpu().vblank_locked());
  EXPECT_EQ(link->counters().lead_us, 0u);
  EXPECT_EQ(link->counters().host_vblanks, 0u);
  EXPECT_TRUE(host.empty());
  // Its own grid, from its modeset, at the rate it programmed (60.004 Hz: not quite the host's).
  const uint64_t own = display::period_ns_for_mhz(g->vgpu().display().refresh_mhz());
  EXPECT_NE(own, kP);
  EXPECT_EQ((g->vgpu().next_vblank_ns() - kGuestStart) % own, 0u);
  draw(back, 1);
  take_flip_done();
  ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, back), Error::None);
  run_to(clk.now_ns() + 3 * kP);
  std::string where;
  EXPECT_EQ(mismatches(1, &where), 0u) << where;
  EXPECT_TRUE(flip_done());
}

TEST_F(DirectFlipClockTest, AfterTheLinkEndsTheGuestTicksAtItsOwnRateFromThen) {
  start(true, guest::kMode1024x768at75);
  run_to(10 * kP + kStep);
  ASSERT_TRUE(g->vgpu().vblank_locked());
  link.reset();
  EXPECT_FALSE(g->vgpu().vblank_locked());
  const uint64_t p75 = display::period_ns_for_mhz(g->vgpu().display().refresh_mhz());
  ASSERT_NE(p75, kP);
  const uint64_t ended = clk.now_ns();
  EXPECT_EQ(g->vgpu().next_vblank_ns(), ended + p75);
  const size_t before = ticks.size();
  run_to(ended + 75 * p75);
  ASSERT_EQ(ticks.size(), before + 75);
  for (size_t k = before; k < ticks.size(); ++k) ASSERT_EQ(ticks[k], ended + (k - before + 1) * p75);
}

}  // namespace
}  // namespace vgd
