// StatusCollector on a live in-process daemon (three demo guests in real time): what it reads
// matches the daemon, fps comes from flips over a window, event latency is recorded from the
// real clock, and snapshots can be taken from several threads while the daemon runs. The fps
// window reads a clock the tests move by hand, so no assertion depends on how fast time passes;
// advance_rate(), the window itself, is tested on given times and flip counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "daemon_support.h"
#include "server/status.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;

// The flip-rate window on given times and counts.
const auto kT0 = std::chrono::steady_clock::time_point{} + 1h;

TEST(FlipRateWindow, FirstSampleOpensTheWindowAtRateZero) {
  const server::FlipRate r = server::advance_rate(std::nullopt, {100, 50, 7}, kT0);
  EXPECT_EQ(r.fps, (server::PlaneRates{0, 0, 0}));
  EXPECT_EQ(r.flips, (server::PlaneCounts{100, 50, 7}));
  EXPECT_EQ(r.at, kT0);
}

TEST(FlipRateWindow, RateIsFlipsOverTheWindowPerPlane) {
  const server::FlipRate first = server::advance_rate(std::nullopt, {100, 50, 7}, kT0);
  const server::FlipRate r = server::advance_rate(first, {130, 50, 12}, kT0 + 500ms);
  EXPECT_DOUBLE_EQ(r.fps[0], 60) << "30 primary flips in half a second";
  EXPECT_DOUBLE_EQ(r.fps[1], 0) << "a plane that did not flip";
  EXPECT_DOUBLE_EQ(r.fps[2], 10);
  EXPECT_EQ(r.at, kT0 + 500ms) << "the next window starts here";
  const server::FlipRate next = server::advance_rate(r, {160, 50, 12}, kT0 + 1500ms);
  EXPECT_DOUBLE_EQ(next.fps[0], 30) << "30 flips over the next window's whole second";
}

TEST(FlipRateWindow, ShorterWindowKeepsThePreviousRate) {
  const server::FlipRate first = server::advance_rate(std::nullopt, {0, 0, 0}, kT0);
  const server::FlipRate r = server::advance_rate(first, {60, 0, 0}, kT0 + 1s);
  const server::FlipRate soon = server::advance_rate(r, {70, 0, 0}, kT0 + 1s + server::kMinRateWindow - 1ms);
  EXPECT_DOUBLE_EQ(soon.fps[0], 60) << "a scraper polling right after the page does not shrink the window";
  EXPECT_EQ(soon.at, kT0 + 1s);
  EXPECT_EQ(soon.flips[0], 60u) << "the window still counts from its start";
}

TEST(FlipRateWindow, CountThatWentBackRestartsAtZero) {
  const server::FlipRate first = server::advance_rate(std::nullopt, {500, 20, 0}, kT0);
  const server::FlipRate r = server::advance_rate(first, {30, 50, 0}, kT0 + 1s);
  EXPECT_DOUBLE_EQ(r.fps[0], 0) << "a reset vGPU's count is not a negative or huge rate";
  EXPECT_DOUBLE_EQ(r.fps[1], 30);
  const server::FlipRate next = server::advance_rate(r, {90, 50, 0}, kT0 + 2s);
  EXPECT_DOUBLE_EQ(next.fps[0], 60) << "counted from the reset value on";
}

// A clock that moves only when the test says so.
struct ManualClock {
  std::atomic<std::chrono::steady_clock::rep> ticks{kT0.time_since_epoch().count()};
  std::chrono::steady_clock::time_point now() const {
    return std::chrono::steady_clock::time_point{std::chrono::steady_clock::duration{ticks.load()}};
  }
  void advance(std::chrono::steady_clock::duration d) { ticks += d.count(); }
};

// A snapshot predicate: there are vGPUs and `pred` holds for each.
template <class Pred>
auto every_vgpu(Pred pred) {
  return [pred](const server::DaemonStatus& s) { return !s.vgpus.empty() && std::all_of(s.vgpus.begin(), s.vgpus.end(), pred); };
}

class Status : public ::testing::Test {
 protected:
  void SetUp() override { d.start(DaemonConfig{}, "status"); }
  // Collects until every vGPU runs (guests program their mode shortly after start).
  server::DaemonStatus running() {
    return until(every_vgpu([](const server::VgpuStatus& v) { return v.state == "running"; }));
  }
  // Collects until `pred` holds for the snapshot (guests run in real time), for 10 s at most.
  template <class Pred>
  server::DaemonStatus until(Pred pred) {
    server::DaemonStatus s = collector.collect(*d.host, *d.srv);
    for (int i = 0; i < 1000 && !pred(s); ++i) {
      std::this_thread::sleep_for(10ms);
      s = collector.collect(*d.host, *d.srv);
    }
    return s;
  }
  test::RunningDaemon d;
  ManualClock clock;
  server::StatusCollector collector{[this] { return clock.now(); }};
};

TEST_F(Status, DescribesEveryVgpuAsTheDaemonDoes) {
  const server::DaemonStatus s = running();
  ASSERT_EQ(s.vgpus.size(), 3u);
  const char* workloads[] = {"desktop", "console", "video"};
  for (size_t i = 0; i < 3; ++i) {
    const server::VgpuStatus& v = s.vgpus[i];
    EXPECT_EQ(v.id, i + 1);
    EXPECT_EQ(v.type, "GVTg_V5_8");
    EXPECT_EQ(v.workload, workloads[i]);
    EXPECT_EQ(v.state, "running");
    EXPECT_EQ(v.tearing, "none");
    EXPECT_TRUE(v.failsafe_reason.empty());
    EXPECT_TRUE(v.pv_aware) << "the demo guests speak PVINFO";
    EXPECT_EQ(v.width, 1024u);
    EXPECT_EQ(v.height, 768u);
    EXPECT_NEAR(v.refresh_mhz, 60000, 10) << "60 Hz as its timings give it";
    EXPECT_GT(v.mmio.writes[static_cast<size_t>(hw::RegBlock::Display)], 0u) << "the modeset was trapped";
    EXPECT_GT(v.mmio.writes[static_cast<size_t>(hw::RegBlock::Gtt)], 0u) << "its surfaces were mapped";
    EXPECT_EQ(v.counters.refused(), 0u) << "well-behaved guests";
    EXPECT_EQ(v.vnc.port, 0) << "filled by vgpud, not here";
  }
  EXPECT_NE(s.find(2), nullptr);
  EXPECT_EQ(s.find(99), nullptr);
}

TEST_F(Status, FpsComesFromFlipsOverTheWindow) {
  running();
  server::StatusCollector rates([this] { return clock.now(); });  // its first window opens now
  const server::DaemonStatus start = rates.collect(*d.host, *d.srv);
  EXPECT_EQ(start.vgpus[0].fps, 0) << "no window yet";
  // The guests flip on while the test's clock stands still: no window closes.
  const auto flipped = [&](const server::DaemonStatus& x) {
    return x.vgpus[0].flips[0] > start.vgpus[0].flips[0] && x.vgpus[2].flips[1] > start.vgpus[2].flips[1];
  };
  server::DaemonStatus s = until(flipped);
  ASSERT_TRUE(flipped(s)) << "the desktop flips its primary and the video its sprite every frame";
  clock.advance(server::kMinRateWindow - 1ms);
  s = rates.collect(*d.host, *d.srv);
  EXPECT_EQ(s.vgpus[0].fps, 0) << "a window shorter than 500 ms keeps the previous rate";
  clock.advance(1s - server::kMinRateWindow + 1ms);  // one second after the window opened
  s = rates.collect(*d.host, *d.srv);
  const auto& desktop = s.vgpus[0];
  EXPECT_DOUBLE_EQ(desktop.fps, static_cast<double>(desktop.flips[0] - start.vgpus[0].flips[0]))
      << "the primary flips counted since the window opened, over its one second";
  EXPECT_GT(desktop.fps, 0);
  EXPECT_EQ(desktop.fps, desktop.plane_fps[0]);
  const auto& video = s.vgpus[2];
  EXPECT_DOUBLE_EQ(video.plane_fps[1], static_cast<double>(video.flips[1] - start.vgpus[2].flips[1]));
  EXPECT_GT(video.plane_fps[1], 0) << "the video's sprite rate";
  EXPECT_DOUBLE_EQ(s.uptime_s, 1.0) << "uptime reads the same clock";
}

TEST_F(Status, EventLatencyIsRecordedForClockVblanks) {
  running();
  const server::DaemonStatus s = until(every_vgpu([](const server::VgpuStatus& v) { return v.event_latency.count() > 0; }));
  for (const auto& v : s.vgpus) {
    const Histogram& h = v.event_latency;
    EXPECT_GT(h.count(), 0u) << "vGPU " << v.id;
    EXPECT_LE(h.count(), v.events.published) << "one sample per event published from a vblank";
    EXPECT_EQ(h.cumulative(h.buckets() - 1), h.count());
    // Dispatch follows the deadline by the timer's wake-up: seconds would mean a wrong time base.
    EXPECT_LT(h.sum() / h.count(), 1'000'000'000u) << "vGPU " << v.id;
  }
}

// The histogram each vGPU keeps of its vblank dispatch delay, as published with its counters.
TEST_F(Status, EveryClockVblankRecordsItsDispatchDelay) {
  const server::DaemonStatus s = until(every_vgpu([](const server::VgpuStatus& v) { return v.vblanks > 0; }));
  for (const auto& v : s.vgpus) {
    const Histogram& h = v.dispatch_delay;
    EXPECT_GT(h.count(), 0u) << "vGPU " << v.id;
    EXPECT_EQ(h.count(), v.vblanks) << "one sample per vblank emulated: all come from the clock, on the one pipe a demo guest uses";
    EXPECT_EQ(h.cumulative(h.buckets() - 1), h.count());
  }
}

TEST_F(Status, CountsConnectedClients) {
  running();
  {
    test::Conn c(d.path);
    c.hello();
    const server::DaemonStatus s = collector.collect(*d.host, *d.srv);
    EXPECT_EQ(s.clients, 1u);
    EXPECT_EQ(s.connections, 1u);
    EXPECT_GE(s.requests, 1u);
  }
  // The server notices the hang-up on its own loop.
  const server::DaemonStatus s = until([](const server::DaemonStatus& x) { return x.clients == 0; });
  EXPECT_EQ(s.clients, 0u);
}

TEST_F(Status, ConcurrentCollectsWhileTheDaemonRuns) {
  running();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        if (collector.collect(*d.host, *d.srv).vgpus.size() == 3) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(collector.collect(*d.host, *d.srv).uptime_s, 0.0) << "the test's clock did not move";
}

}  // namespace
}  // namespace vgd
