// The daemon's concurrency model (docs/design.md, "Ownership"): each vGPU on its own lock, a
// vblank thread that never waits for one, event delivery that never waits for a consumer, and
// a server loop that serves every client in turn. Real time, but every wait is a generous upper
// bound that only catches a stall.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "daemon_support.h"
#include "plane_support.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;
using proto::MsgType;
using test::Conn;
using test::next_event;

// Polls `pred` until it holds or `limit` passes.
bool within(std::chrono::milliseconds limit, const std::function<bool()>& pred) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

uint64_t vblanks(server::HostedVgpu& hv) {
  const Locked lk(hv.lock());
  return hv.vgpu().display().stats().vblanks[0];
}

class OwnershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonConfig cfg;
    cfg.vgpus = {VgpuSpec{}, VgpuSpec{}};  // two desktops
    daemon.start(cfg, "ownership");
    ASSERT_TRUE(within(10s, [&] { return vblanks(*daemon.host->find(1)) > 5 && vblanks(*daemon.host->find(2)) > 5; }))
        << "both guests light their displays";
  }
  void TearDown() override { daemon.stop(); }
  test::RunningDaemon daemon;
};

// vGPU 1's lock is taken (as a long trap would) for as long as the test likes: vGPU 2's vblanks,
// events and queries go on; vGPU 1's vblank waits for its own lock only, and runs as it is freed.
TEST_F(OwnershipTest, AvGpuHeldBusyDelaysNoOtherVgpu) NO_THREAD_SAFETY_ANALYSIS {
  server::HostedVgpu& one = *daemon.host->find(1);
  server::HostedVgpu& two = *daemon.host->find(2);
  Conn c(daemon.path);
  c.hello();
  const UniqueFd efd = c.subscribe(2);
  const uint64_t one_before = one.vgpu().display().stats().vblanks[0];  // read under the lock below
  one.lock().lock();
  const uint64_t frozen = one.vgpu().display().stats().vblanks[0];
  const uint64_t two_before = vblanks(two);
  EXPECT_TRUE(within(5s, [&] { return vblanks(two) >= two_before + 20; })) << "vGPU 2 keeps its vblanks";
  for (int i = 0; i < 5; ++i) EXPECT_NE(next_event(efd), 0u) << "vGPU 2's consumer keeps its events";
  EXPECT_TRUE(Conn::ok(c.call(MsgType::QueryPlane, 2, test::plane_request(proto::kPlanePrimary))))
      << "vGPU 2's queries are answered";
  EXPECT_EQ(one.vgpu().display().stats().vblanks[0], frozen) << "vGPU 1's vblank waited for its lock";
  EXPECT_TRUE(one.lock().pending()) << "... and is posted to it";
  one.lock().unlock();  // runs the posted vblank
  EXPECT_GT(vblanks(one), frozen);
  EXPECT_GE(frozen, one_before);
  EXPECT_TRUE(within(5s, [&] { return one.published().late_vblanks > 0; }))
      << "the vblanks that found the lock busy are counted";
}

// A consumer switches its registered eventfd to blocking and fills its counter, so a blocking
// write would never return: the vGPU's vblanks and the other consumers' events go on, and the
// refused deliveries are counted.
TEST_F(OwnershipTest, ABlockingFullEventfdStallsNothing) {
  Conn bad(daemon.path), good(daemon.path);
  bad.hello();
  good.hello();
  const UniqueFd bad_efd = bad.subscribe(1);
  const UniqueFd good_efd = good.subscribe(1);
  ASSERT_NE(next_event(bad_efd), 0u);
  const int flags = ::fcntl(bad_efd.get(), F_GETFL);
  ASSERT_EQ(::fcntl(bad_efd.get(), F_SETFL, flags & ~O_NONBLOCK), 0);
  const uint64_t full = 0xfffffffffffffffeull;
  ASSERT_EQ(::write(bad_efd.get(), &full, sizeof full), static_cast<ssize_t>(sizeof full));
  server::HostedVgpu& hv = *daemon.host->find(1);
  const uint64_t before = vblanks(hv);
  for (int i = 0; i < 10; ++i) ASSERT_NE(next_event(good_efd), 0u) << "the other consumer's events keep coming";
  EXPECT_TRUE(within(5s, [&] { return vblanks(hv) >= before + 10; })) << "the vGPU's vblanks go on";
  EXPECT_TRUE(within(5s, [&] { return hv.published().events.failed > 0; })) << "the refused writes are counted";
  EXPECT_TRUE(Conn::ok(bad.call(MsgType::List))) << "the misbehaving consumer is still served";
}

// One client keeps its request queue full without pause; another's requests are still answered
// (the loop serves at most Server::kRequestsPerTurn of one client's requests in a row).
TEST_F(OwnershipTest, AChattyClientStarvesNoOtherClient) {
  Conn chatty(daemon.path), quiet(daemon.path);
  chatty.hello();
  quiet.hello();
  ASSERT_TRUE(Conn::ok(chatty.call(MsgType::Open, 1)));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> answered{0};
  // A writer that keeps up to 128 requests in flight (fewer than the daemon's reply queue holds,
  // so the chatty client is never cut off for not reading), and a reader that drains the replies.
  std::thread writer([&] {
    for (uint64_t sent = 0; !stop.load();) {
      if (sent - answered.load() >= 128) {
        std::this_thread::yield();
        continue;
      }
      proto::Packet q = proto::make_packet(static_cast<uint16_t>(MsgType::QueryPlane), 7, 1);
      q.append(test::plane_request(proto::kPlanePrimary));
      if (proto::send_packet(chatty.fd.get(), q)) ++sent;
    }
  });
  std::thread reader([&] {
    while (!stop.load()) {
      pollfd p{chatty.fd.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      proto::Packet r;
      std::string why;
      if (proto::recv_packet(chatty.fd.get(), r, why) == proto::RecvResult::Ok) ++answered;
    }
  });
  ASSERT_TRUE(within(5s, [&] { return answered.load() > 100; })) << "the chatty client is being served";
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Conn::ok(quiet.call(MsgType::List))) << "the quiet client is answered";
  stop = true;
  writer.join();
  reader.join();
}

// Several vblank clocks (the daemon runs one per CPU): the GPU spreads new vGPUs over them, each
// vGPU ticks only from its own, and a freed place is filled first.
class VblankLanesTest : public test::GpuTest {
 protected:
  void TearDown() override { gpu.reset(); }  // the vGPUs leave their clocks before the clocks go
  display::VirtualClock a, b;
};

TEST_F(VblankLanesTest, VgpusAreSpreadOverTheClocksAndTickOnlyFromTheirOwn) {
  gpu->set_vblank_clocks({&a, &b});
  std::vector<Vgpu*> v;
  for (int i = 0; i < 4; ++i) v.push_back(&create());
  EXPECT_EQ(v[0]->vblank_clock(), &a);
  EXPECT_EQ(v[1]->vblank_clock(), &b);
  EXPECT_EQ(v[2]->vblank_clock(), &a);
  EXPECT_EQ(v[3]->vblank_clock(), &b);
  for (Vgpu* g : v) test::SmallPrimary::light(*g, 1);

  a.advance_by(100'000'000);  // 100 ms of clock a only: about six 60 Hz vblanks
  EXPECT_GE(v[0]->display().stats().vblanks[0], 5u);
  EXPECT_GE(v[2]->display().stats().vblanks[0], 5u);
  EXPECT_EQ(v[1]->display().stats().vblanks[0], 0u) << "a vGPU of clock b ticked from clock a";
  EXPECT_EQ(v[3]->display().stats().vblanks[0], 0u);

  const uint32_t gone = v[1]->id();
  ASSERT_TRUE(gpu->destroy_vgpu(gone));
  EXPECT_EQ(create().vblank_clock(), &b) << "the new vGPU takes the place the destroyed one left";
}

}  // namespace
}  // namespace vgd
