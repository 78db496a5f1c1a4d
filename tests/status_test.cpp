// StatusCollector on a live in-process daemon (three demo guests in real time): what it reads
// matches the daemon, fps comes from flips over a window, event latency is recorded from the
// real clock, and snapshots can be taken from several threads while the daemon runs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "daemon_support.h"
#include "server/status.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;

class Status : public ::testing::Test {
 protected:
  void SetUp() override { d.start(DaemonConfig{}, "status"); }
  // Collects until every vGPU runs (guests program their mode shortly after start).
  server::DaemonStatus running() {
    server::DaemonStatus s;
    for (int i = 0; i < 200; ++i) {
      s = collector.collect(*d.host, *d.srv);
      bool all = !s.vgpus.empty();
      for (const auto& v : s.vgpus) all = all && v.state == "running";
      if (all) break;
      std::this_thread::sleep_for(25ms);
    }
    return s;
  }
  test::RunningDaemon d;
  server::StatusCollector collector;
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
  server::DaemonStatus s = running();
  EXPECT_EQ(s.vgpus[0].fps, 0) << "no window yet";
  std::this_thread::sleep_for(200ms);
  s = collector.collect(*d.host, *d.srv);
  EXPECT_EQ(s.vgpus[0].fps, 0) << "a window shorter than 500 ms keeps the previous rate";
  std::this_thread::sleep_for(600ms);
  s = collector.collect(*d.host, *d.srv);
  const auto& desktop = s.vgpus[0];
  EXPECT_GT(desktop.fps, 1) << "the desktop flips its primary every frame";
  EXPECT_LE(desktop.fps, 65) << "about one latched flip per 60 Hz vblank at most";
  EXPECT_EQ(desktop.fps, desktop.plane_fps[0]);
  EXPECT_GT(s.vgpus[2].plane_fps[1], 1) << "the video flips its sprite";
  EXPECT_GT(desktop.vblanks, 30u);
}

TEST_F(Status, EventLatencyIsRecordedForClockVblanks) {
  running();
  std::this_thread::sleep_for(500ms);
  const server::DaemonStatus s = collector.collect(*d.host, *d.srv);
  for (const auto& v : s.vgpus) {
    const Histogram& h = v.event_latency;
    EXPECT_GT(h.count(), 0u) << "vGPU " << v.id;
    EXPECT_LE(h.count(), v.events.published) << "one sample per event published from a vblank";
    EXPECT_EQ(h.cumulative(h.buckets() - 1), h.count());
    // Dispatch follows the deadline by the timer's wake-up: seconds would mean a wrong time base.
    EXPECT_LT(h.sum() / h.count(), 100'000'000u) << "vGPU " << v.id;
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
  server::DaemonStatus s;
  for (int i = 0; i < 100; ++i) {  // the server notices the hang-up on its own loop
    s = collector.collect(*d.host, *d.srv);
    if (s.clients == 0) break;
    std::this_thread::sleep_for(10ms);
  }
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
  EXPECT_GE(collector.collect(*d.host, *d.srv).uptime_s, 0.0);
}

}  // namespace
}  // namespace vgd
