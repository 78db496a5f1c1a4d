// vgpud in-process (as in server_test.cpp) with its desktop guests under tearing control, watched
// through libvgd-client the way vgpu-view does it: map the primary after each event, read it,
// drop it. The library releases each frame when it is dropped, so the guest under hold keeps its
// full frame rate and the picture under copy keeps changing (a cache keeping references would
// make every hold run to its bound and freeze the copies; see HoldServerTest in server_test.cpp).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <set>
#include <string_view>
#include <thread>

#include "client/client.h"
#include "daemon_support.h"
#include "server/server.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;

class ClientTearingTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kCopy = 1, kHold = 2;  // vGPU ids: both run the desktop

  void SetUp() override {
    DaemonConfig cfg;
    cfg.vgpus = {VgpuSpec{}, VgpuSpec{}};
    cfg.vgpus[kCopy - 1].tearing = TearingMode::Copy;
    cfg.vgpus[kHold - 1].tearing = TearingMode::Hold;
    daemon.start(cfg, "client-tearing", {.max_clients = 8});
    path = daemon.path;
    host = daemon.host.get();
  }
  void TearDown() override { daemon.stop(); }

  struct Sample {
    uint64_t flips = 0, vblanks = 0;
    exporter::TearingCounters tearing;
  };
  Sample sample(uint32_t id) {
    server::HostedVgpu* hv = host->find(id);
    const Locked lk(hv->lock());
    const auto& st = hv->vgpu().display().stats();
    return {st.flips[0][static_cast<size_t>(hw::Plane::Primary)], st.vblanks[0], hv->port().counters().tearing};
  }

  // What one look at the primary saw.
  struct Look {
    uint32_t id = 0;
    size_t content = 0;  // a hash of the plane's bytes
  };
  // Opens `id` through the library and, after each of `events` primary events, maps the primary,
  // hashes it and drops it, as a viewer does.
  std::vector<Look> watch(uint32_t id, proto::Tearing expect, int events) {
    std::vector<Look> looks;
    auto conn = client::Connection::connect(path, "tearing-test");
    EXPECT_TRUE(conn) << client::describe(conn.error());
    if (!conn) return looks;
    auto vgpu = conn->open(id);
    EXPECT_TRUE(vgpu) << client::describe(vgpu.error());
    if (!vgpu) return looks;
    EXPECT_EQ(vgpu->tearing(), expect);
    EXPECT_TRUE(vgpu->releases_on_drop());
    EXPECT_TRUE(vgpu->enable_events());
    for (int i = 0; i < events;) {
      auto ev = vgpu->wait_events(2s);
      EXPECT_TRUE(ev && ev->any()) << "the desktop flips every frame: events keep coming";
      if (!ev || !ev->any()) break;
      if (ev->primary == 0) continue;  // a slow guest's vblank with only its cursor move
      ++i;
      auto plane = vgpu->query(proto::kPlanePrimary);
      EXPECT_TRUE(plane && !client::no_plane(*plane));
      if (!plane || client::no_plane(*plane)) continue;
      auto buf = vgpu->buffer(*plane);
      EXPECT_TRUE(buf) << client::describe(buf.error());
      if (!buf) continue;
      const std::string_view bytes(reinterpret_cast<const char*>((*buf)->data()), (*buf)->size());
      looks.push_back({(*buf)->id(), std::hash<std::string_view>{}(bytes)});
      EXPECT_EQ(vgpu->cached_ids(), std::vector<uint32_t>{(*buf)->id()}) << "only what this frame holds";
    }  // each frame's buffer goes at the end of its iteration: released there
    EXPECT_TRUE(vgpu->cached_ids().empty());
    EXPECT_EQ(vgpu->counters().releases, vgpu->counters().cache_misses) << "every reference went back";
    return looks;
  }
  test::RunningDaemon daemon;
  std::string path;
  server::Host* host = nullptr;
};

TEST_F(ClientTearingTest, ViewersThatDropEachFrameKeepCopyChangingAndHoldAtFullRate) {
  // copy: frames come from the two shadows, alternating, and differ from one look to the next.
  const Sample copy_before = sample(kCopy);
  const std::vector<Look> copied = watch(kCopy, proto::Tearing::Copy, 60);
  const Sample copy_after = sample(kCopy);
  ASSERT_GE(copied.size(), 50u);
  std::set<uint32_t> ids;
  size_t alternations = 0, changes = 0;
  for (size_t i = 0; i < copied.size(); ++i) {
    EXPECT_TRUE(exporter::ShadowFrames::owns(copied[i].id)) << copied[i].id;
    ids.insert(copied[i].id);
    if (i > 0 && copied[i].id != copied[i - 1].id) ++alternations;
    if (i > 0 && copied[i].content != copied[i - 1].content) ++changes;
  }
  const uint64_t skipped = copy_after.tearing.copy_skipped - copy_before.tearing.copy_skipped;
  std::cout << "copy: " << copied.size() << " looks, " << alternations << " shadow alternations, " << changes
            << " picture changes, " << copy_after.tearing.copies - copy_before.tearing.copies << " copies, " << skipped
            << " skipped\n";
  EXPECT_EQ(ids.size(), 2u) << "two shadows";
  // Every look but a few (a guest starved of CPU may miss vblanks) finds a new frame in the other
  // shadow; a viewer keeping both shadows would see one frame throughout.
  EXPECT_GE(alternations * 4, (copied.size() - 1) * 3) << "the shadows alternate";
  EXPECT_GE(changes * 4, (copied.size() - 1) * 3) << "the picture keeps changing: not frozen";
  EXPECT_LE(skipped, 2u) << "no copy skipped for shadows this viewer kept";

  // hold: the frames the viewer reads went back before the flips that replace them, so no
  // flip-done waits for the bound and the guest flips (nearly) every vblank.
  const Sample hold_before = sample(kHold);
  const std::vector<Look> held = watch(kHold, proto::Tearing::Hold, 60);
  const Sample hold_after = sample(kHold);
  ASSERT_GE(held.size(), 50u);
  const uint64_t frames = hold_after.flips - hold_before.flips, vblanks = hold_after.vblanks - hold_before.vblanks;
  const uint64_t timeouts = hold_after.tearing.hold_timeouts - hold_before.tearing.hold_timeouts;
  std::cout << "hold: " << frames << " frames in " << vblanks << " vblanks, "
            << hold_after.tearing.held - hold_before.tearing.held << " held, " << timeouts
            << " hold timeouts, longest hold " << hold_after.tearing.hold_ns_max / 1000 << " us\n";
  EXPECT_LE(timeouts, 2u) << "flip-done did not wait for the bound";
  // Held to the bound every frame, the guest would manage one frame per kHoldVblanks + 1; it
  // flips at every vblank here, less only when starved of CPU.
  EXPECT_GE(frames * 3, vblanks * 2) << "the guest keeps (nearly) its full rate";
}

}  // namespace
}  // namespace vgd
