// hold_frame (docs/config.md): a builtin guest flips frames 1..N as usual, then its picture holds
// still while vblanks go on, so a test (the kms rig, docs/vm.md) can render it itself.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "daemon_support.h"
#include "reference_pictures.h"
#include "vnc_support.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;

TEST(GuestHold, TheDesktopHoldsStillAtItsHoldFrame) {
  constexpr uint32_t kHold = 5;
  test::RunningDaemon daemon;
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};
  cfg.vgpus[0].hold_frame = kHold;
  daemon.start(cfg, "guest-hold", {.max_clients = 4});
  GuestSession& s = daemon.host->find(1)->session();
  const auto reached = [&](const std::function<bool()>& f) {  // a bound that catches hangs only
    const auto end = std::chrono::steady_clock::now() + 30s;
    while (!f() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
    return f();
  };
  ASSERT_TRUE(reached([&] { return s.frames() == kHold; })) << "frames " << s.frames();
  const fb::Image before = test::daemon_picture(daemon.path, 1, true);
  // About a dozen more vblanks (200 ms of them): the guest waits through them, presenting nothing.
  server::HostedVgpu& hv = *daemon.host->find(1);
  const auto last_vblank = [&] {
    const Locked lk(hv.lock());
    return hv.vgpu().last_vblank_ns();
  };
  const uint64_t t0 = last_vblank();
  ASSERT_TRUE(reached([&] { return last_vblank() >= t0 + 200'000'000; }));
  EXPECT_EQ(s.frames(), kHold);
  EXPECT_TRUE(s.ok()) << s.error();
  const fb::Image after = test::daemon_picture(daemon.path, 1, true);
  const fb::Image want = test::reference(Workload::Desktop, kHold, 1024, 768);
  std::string first;
  EXPECT_EQ(test::differing_pixels(after, want, first), 0u) << first;
  EXPECT_EQ(test::differing_pixels(before, after, first), 0u) << first;

  // Told to go on (what SIGUSR1 does to vgpud): as many frames again, then still again.
  s.hold_further();
  ASSERT_TRUE(reached([&] { return s.frames() == 2 * kHold; })) << "frames " << s.frames();
  const fb::Image next = test::daemon_picture(daemon.path, 1, true);
  EXPECT_EQ(test::differing_pixels(next, test::reference(Workload::Desktop, 2 * kHold, 1024, 768), first), 0u) << first;
}

}  // namespace
}  // namespace vgd
