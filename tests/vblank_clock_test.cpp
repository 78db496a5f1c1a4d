// The vblank clock: exact tick counts and times in virtual time (no drift, deadline order, safe
// re-entry from callbacks, 1000 timers on one heap), and sane behaviour on the real clock.
#include "display/vblank_clock.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

namespace vgd::display {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kBase = 5 * kSec + 123;  // an arbitrary start, so "base +" is really checked
constexpr uint64_t k60Hz = 16'666'667;

struct Tick {
  uint64_t t;
  int who;
  bool operator==(const Tick&) const = default;
  friend void PrintTo(const Tick& k, std::ostream* os) { *os << "{t=" << k.t << " who=" << k.who << "}"; }
};
using Ticks = std::vector<Tick>;

TEST(VblankPeriod, RoundsTenToTheTwelveOverMilliHertz) {
  EXPECT_EQ(period_ns_for_mhz(60'000), k60Hz);       // 16,666,666.67 rounds up
  EXPECT_EQ(period_ns_for_mhz(0), k60Hz);            // unknown rate: 60 Hz
  EXPECT_EQ(period_ns_for_mhz(59'940), 16'683'350u);  // 16,683,350.02
  EXPECT_EQ(period_ns_for_mhz(75'000), 13'333'333u);  // 13,333,333.33 rounds down
  EXPECT_EQ(period_ns_for_mhz(50'000), 20'000'000u);
  EXPECT_EQ(period_ns_for_mhz(UINT32_MAX), 233u);     // no overflow at the top
}

// A virtual clock at kBase and a log that timers write (time on the clock, who) to.
class VirtualTime : public testing::Test {
 protected:
  TimerId logged(int who) { return clock.add([this, who] { log.push_back({clock.now_ns(), who}); }); }
  VirtualClock clock{kBase};
  Ticks log;
};

// --- Counts, exact times, no drift --------------------------------------------------------------

struct Rate { uint32_t mhz; uint64_t ticks_in_10s; };
class VirtualRate : public VirtualTime, public testing::WithParamInterface<Rate> {};

TEST_P(VirtualRate, TicksExactlyOnTheGridOfItsPeriod) {
  const uint64_t p = period_ns_for_mhz(GetParam().mhz), n = GetParam().ticks_in_10s;
  const TimerId id = logged(0);
  clock.start(id, p);
  clock.advance_by(10 * kSec);
  ASSERT_EQ(clock.ticks(id), n);
  EXPECT_EQ(log.back().t, kBase + n * p);
  // The next tick is due at exactly base + (n + 1) periods, not a nanosecond earlier.
  clock.advance_to(kBase + (n + 1) * p - 1);
  EXPECT_EQ(clock.ticks(id), n);
  clock.advance_by(1);
  EXPECT_EQ(log.back(), (Tick{kBase + (n + 1) * p, 0}));
  // A day at 60 Hz would be 5M ticks; 100k already shows any accumulated error.
  clock.advance_to(kBase + 100'000 * p);
  ASSERT_EQ(clock.ticks(id), 100'000u);
  for (uint64_t k = 1; k <= log.size(); ++k) ASSERT_EQ(log[k - 1].t, kBase + k * p) << "tick " << k;
  EXPECT_EQ(clock.now_ns(), kBase + 100'000 * p);
}

// 60 Hz: 600 periods are 10.0000002 s (the period rounds up by 1/3 ns), so 10 s hold 599 ticks
// and the 600th lands at exactly base + 600 periods.
INSTANTIATE_TEST_SUITE_P(Rates, VirtualRate, testing::Values(Rate{60'000, 599}, Rate{59'940, 599}, Rate{75'000, 750}));

TEST_F(VirtualTime, TimersAtDifferentRatesInterleaveInDeadlineOrderTiesByTimerId) {
  const std::vector<uint64_t> periods = {20 * kMs, 10 * kMs, k60Hz};  // 50, 100, 60 Hz
  const std::vector<TimerId> ids = {logged(0), logged(1), logged(2)};
  for (int who = 2; who >= 0; --who) clock.start(ids[who], periods[who]);  // start order must not matter
  clock.advance_by(kSec);

  Ticks want;
  for (int who = 0; who < 3; ++who)
    for (uint64_t t = kBase + periods[who]; t <= kBase + kSec; t += periods[who]) want.push_back({t, who});
  std::sort(want.begin(), want.end(), [](const Tick& a, const Tick& b) { return std::tie(a.t, a.who) < std::tie(b.t, b.who); });
  EXPECT_EQ(log, want);
  // The first tie: 50 Hz and 100 Hz both at 20 ms, the lower id first.
  ASSERT_GE(log.size(), 4u);
  EXPECT_EQ(Ticks(log.begin(), log.begin() + 4),
            (Ticks{{kBase + 10 * kMs, 1}, {kBase + k60Hz, 2}, {kBase + 20 * kMs, 0}, {kBase + 20 * kMs, 1}}));
}

// --- Start / stop -------------------------------------------------------------------------------

TEST_F(VirtualTime, StopHaltsTicksAndRestartPhasesFromNow) {
  const TimerId id = logged(0);
  EXPECT_FALSE(clock.running(id));
  EXPECT_EQ(clock.next_tick_ns(id), 0u);
  clock.start(id, k60Hz);
  clock.advance_by(3 * k60Hz);
  EXPECT_EQ(clock.ticks(id), 3u);
  clock.stop(id);
  EXPECT_FALSE(clock.running(id));
  clock.advance_by(10 * k60Hz + 12345);
  EXPECT_EQ(clock.ticks(id), 3u);
  const uint64_t restart = clock.now_ns();
  clock.start(id, k60Hz);
  EXPECT_EQ(clock.next_tick_ns(id), restart + k60Hz);
  clock.advance_by(k60Hz);
  EXPECT_EQ(clock.ticks(id), 4u);
  EXPECT_EQ(log.back().t, restart + k60Hz);
  clock.start(id, 0);  // period 0 = stop (a pipe without a mode does not tick)
  EXPECT_FALSE(clock.running(id));
}

TEST_F(VirtualTime, StartKeepsThePhaseAtTheSamePeriodAndRephasesFromNowAtAnother) {
  const TimerId id = logged(0);
  clock.start(id, k60Hz);
  clock.advance_by(k60Hz / 2);
  clock.start(id, k60Hz);  // the guest rewrote PIPECONF without changing the mode
  clock.advance_by(k60Hz);
  const uint64_t change = clock.now_ns(), p75 = period_ns_for_mhz(75'000);
  clock.start(id, p75);  // a mode change
  clock.advance_to(change + 2 * p75);
  EXPECT_EQ(log, (Ticks{{kBase + k60Hz, 0}, {change + p75, 0}, {change + 2 * p75, 0}}));
}

// --- Align: another clock's grid (docs/direct-flip.md, One clock) --------------------------------

TEST_F(VirtualTime, AlignPutsTheTimerOnTheGridOfPhasePlusPeriods) {
  const TimerId id = logged(0);
  clock.start(id, 20 * kMs);  // the guest's own 50 Hz
  clock.advance_by(20 * kMs);
  // The host's 60 Hz grid, anchored at a vblank 3 ms ago (minus a lead): past phases and future
  // ones give the same grid.
  const uint64_t phase = clock.now_ns() - 3 * kMs;
  clock.align(id, k60Hz, phase);
  EXPECT_EQ(clock.next_tick_ns(id), phase + k60Hz);
  clock.align(id, k60Hz, phase + 50 * k60Hz);  // the same grid, named by a later point
  EXPECT_EQ(clock.next_tick_ns(id), phase + k60Hz);
  clock.advance_to(phase + 100 * k60Hz);
  ASSERT_EQ(log.size(), 101u);
  for (uint64_t k = 1; k <= 100; ++k) ASSERT_EQ(log[k].t, phase + k * k60Hz) << "tick " << k;
  // A phase exactly now: the next point is a period away, not now.
  clock.align(id, k60Hz, clock.now_ns());
  EXPECT_EQ(clock.next_tick_ns(id), clock.now_ns() + k60Hz);
}

TEST_F(VirtualTime, AlignNeverTicksTwiceWithinHalfAPeriodAndNeverStalls) {
  const TimerId id = logged(0);
  clock.start(id, k60Hz);
  clock.advance_by(k60Hz + kMs);  // ticked 1 ms ago
  const uint64_t last = log.back().t;
  // The new grid's next point 2 ms from now, 3 ms after the last tick: skipped to the one after.
  clock.align(id, k60Hz, clock.now_ns() + 2 * kMs);
  EXPECT_EQ(clock.next_tick_ns(id), clock.now_ns() + 2 * kMs + k60Hz);
  // Past half a period since the last tick: taken as it comes.
  clock.align(id, k60Hz, last + k60Hz / 2 + 1);
  EXPECT_EQ(clock.next_tick_ns(id), last + k60Hz / 2 + 1);
  // Re-alignments at all sorts of moments to all sorts of phases: never two ticks within half a
  // period, and within a period and a half of any of them the timer has ticked.
  for (uint64_t i = 0; i < 200; ++i) {
    clock.advance_by((i * 5 % 13) * kMs);
    const size_t before = log.size();
    clock.align(id, k60Hz, clock.now_ns() + (i * 7 % 17) * kMs);
    clock.advance_by(k60Hz + k60Hz / 2);
    ASSERT_GT(log.size(), before) << "align " << i;
  }
  for (size_t k = 1; k < log.size(); ++k) ASSERT_GE(log[k].t - log[k - 1].t, k60Hz / 2) << "tick " << k;
}

TEST_F(VirtualTime, AlignStartsAStoppedTimerAndAPeriodOfZeroStopsIt) {
  const TimerId id = logged(0);
  clock.align(id, k60Hz, kBase - 5 * kMs);
  EXPECT_TRUE(clock.running(id));
  EXPECT_EQ(clock.next_tick_ns(id), kBase - 5 * kMs + k60Hz);
  clock.align(id, 0, 0);
  EXPECT_FALSE(clock.running(id));
  clock.align(0, k60Hz, 0);  // no such timer: nothing
  EXPECT_EQ(clock.timers(), 1u);
}

TEST_F(VirtualTime, UnknownAndRemovedIdsAreInert) {
  const TimerId id = logged(0);
  EXPECT_NE(id, 0u);  // 0 stays free to mean "no timer"
  clock.start(id, k60Hz);
  clock.advance_by(2 * k60Hz);
  clock.remove(id);
  EXPECT_EQ(clock.timers(), 0u);
  EXPECT_FALSE(clock.running(id));
  EXPECT_EQ(clock.ticks(id), 0u);
  clock.start(id, k60Hz);
  clock.stop(0);
  clock.remove(999);
  clock.advance_by(kSec);
  EXPECT_FALSE(clock.running(id));
  EXPECT_EQ(log.size(), 2u);
  EXPECT_NE(logged(1), id);  // ids are not reused: a stale id never hits a new timer
}

// --- Callbacks re-entering the clock ------------------------------------------------------------

TEST_F(VirtualTime, CallbackStopsItself) {
  TimerId id = 0;
  id = clock.add([&] {
    if (clock.ticks(id) == 3) clock.stop(id);
  });
  clock.start(id, k60Hz);
  clock.advance_by(kSec);
  EXPECT_EQ(clock.ticks(id), 3u);
  EXPECT_FALSE(clock.running(id));
}

TEST_F(VirtualTime, CallbackRemovesItselfAndItsCapturesLiveUntilItReturns) {
  auto alive = std::make_shared<int>(42);
  std::weak_ptr<int> watch = alive;
  int seen = 0;
  TimerId id = 0;
  id = clock.add([this, &id, &seen, alive = std::move(alive)] {
    clock.remove(id);
    seen = *alive;  // still ours: removal waits for the callback to return
  });
  clock.start(id, k60Hz);
  clock.advance_by(kSec);
  EXPECT_EQ(seen, 42);
  EXPECT_TRUE(watch.expired());  // and then the callback really is gone
  EXPECT_EQ(clock.timers(), 0u);
}

TEST_F(VirtualTime, CallbackRemovesOrStopsOthersDueAtTheSameInstant) {
  TimerId removed = 0, stopped = 0;
  const TimerId killer = clock.add([&] {
    log.push_back({clock.now_ns(), 0});
    clock.remove(removed);
    clock.stop(stopped);
  });
  removed = logged(1);
  stopped = logged(2);
  for (TimerId id : {killer, removed, stopped}) clock.start(id, k60Hz);
  clock.advance_by(3 * k60Hz);
  // The others were due at the killer's first tick but come after it in id order: never fire.
  EXPECT_EQ(log, (Ticks{{kBase + k60Hz, 0}, {kBase + 2 * k60Hz, 0}, {kBase + 3 * k60Hz, 0}}));
  EXPECT_EQ(clock.timers(), 2u);
  EXPECT_FALSE(clock.running(stopped));
}

TEST_F(VirtualTime, CallbackRestartsItselfAndStartsAndAddsOthers) {
  const TimerId other = logged(1);
  TimerId self = 0;
  self = clock.add([&] {
    log.push_back({clock.now_ns(), 0});
    if (clock.ticks(self) != 1) return;
    clock.start(self, 2 * k60Hz);
    clock.start(other, 10 * kMs);
    for (int i = 0; i < 200; ++i) clock.add([] {});  // rehashes the timer table under our feet
  });
  clock.start(self, k60Hz);
  clock.advance_to(kBase + 5 * k60Hz);
  const uint64_t t1 = kBase + k60Hz;
  EXPECT_EQ(log, (Ticks{{t1, 0}, {t1 + 10 * kMs, 1}, {t1 + 20 * kMs, 1}, {t1 + 30 * kMs, 1}, {t1 + 2 * k60Hz, 0},
                        {t1 + 40 * kMs, 1}, {t1 + 50 * kMs, 1}, {t1 + 60 * kMs, 1}, {t1 + 4 * k60Hz, 0}}));
  EXPECT_EQ(clock.timers(), 202u);
}

TEST_F(VirtualTime, AdvancingFromACallbackIsRefused) {
  const TimerId id = clock.add([&] { clock.advance_by(1); });
  clock.start(id, k60Hz);
  EXPECT_THROW(clock.advance_by(kSec), std::logic_error);
  clock.stop(id);
  const TimerId ok = logged(0);  // the clock left dispatch mode: it still works
  clock.start(ok, k60Hz);
  clock.advance_by(k60Hz);
  EXPECT_EQ(log.size(), 1u);
}

TEST_F(VirtualTime, AThousandTimersEachTickTheirOwnCountInOneSecond) {
  constexpr int kTimers = 1000;
  std::vector<uint64_t> period(kTimers), off_grid(kTimers, 0);
  std::vector<TimerId> ids(kTimers);
  for (int i = 0; i < kTimers; ++i) {
    period[i] = period_ns_for_mhz(static_cast<uint32_t>(24'000 + 997 * i % 216'000));  // 24..240 Hz
    ids[i] = clock.add([&, i] {
      if (clock.now_ns() != kBase + clock.ticks(ids[i]) * period[i]) ++off_grid[i];
    });
    clock.start(ids[i], period[i]);
  }
  clock.advance_by(kSec);
  for (int i = 0; i < kTimers; ++i) {
    ASSERT_EQ(clock.ticks(ids[i]), kSec / period[i]) << "timer " << i;
    ASSERT_EQ(off_grid[i], 0u) << "timer " << i;
  }
}

// --- Real time: generous bounds only ------------------------------------------------------------

class RealTime : public testing::Test {
 protected:
  void SetUp() override {
    auto c = RealClock::create();
    ASSERT_TRUE(c) << c.error();
    clock = std::move(*c);
    id = clock->add([] {});
  }
  bool readable(int timeout_ms) const {
    pollfd p{clock->fd(), POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
  }
  std::unique_ptr<RealClock> clock;
  TimerId id = 0;
};

TEST_F(RealTime, OneKilohertzTimerForTwoHundredMilliseconds) {
  clock->start(id, 1 * kMs);
  clock->run_for(200ms);
  EXPECT_GE(clock->ticks(id), 100u);
  EXPECT_LE(clock->ticks(id), 300u);
}

TEST_F(RealTime, FdIsReadableWhenATickIsDueAndQuietWithNothingRunning) {
  EXPECT_FALSE(readable(0));
  clock->start(id, 10 * kMs);
  ASSERT_TRUE(readable(5000));
  clock->dispatch();
  EXPECT_EQ(clock->ticks(id), 1u);
  clock->stop(id);
  EXPECT_FALSE(readable(50));  // disarmed: an idle loop sleeps
}

TEST_F(RealTime, ALateLoopFiresOnceCountsTheMissedTicksAndStaysOnItsGrid) {
  clock->start(id, 1 * kMs);
  const uint64_t first = clock->next_tick_ns(id);
  std::this_thread::sleep_for(30ms);
  clock->dispatch();
  EXPECT_EQ(clock->ticks(id), 1u);
  EXPECT_GE(clock->missed(id), 10u);  // ~29 deadlines slept through, none fired
  const uint64_t next = clock->next_tick_ns(id);
  EXPECT_GT(next, first + 10 * kMs);
  EXPECT_EQ((next - first) % kMs, 0u);  // re-armed on first + k periods, not "now + 1 period"
}

TEST_F(RealTime, SpuriousDispatchFiresNothing) {
  clock->start(id, 10 * kSec);
  clock->dispatch();
  EXPECT_EQ(clock->ticks(id), 0u);
  EXPECT_TRUE(clock->running(id));
  EXPECT_FALSE(readable(0));
}

}  // namespace
}  // namespace vgd::display
