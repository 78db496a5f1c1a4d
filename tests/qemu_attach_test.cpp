// A vGPU configured for a QEMU VM, driven by a fake QEMU over the socket AttachVm hands out
// (docs/protocol.md §3.8, docs/vm.md): the device answers there, one VM at a time, and a VM
// that breaks the protocol is detached alone and can be replaced. Real VMs: vm_vgpu_test.cpp (label vm).
#include <gtest/gtest.h>

#include "client/connection.h"
#include "daemon_support.h"
#include "hw/pci_ids.h"
#include "hw/pvinfo.h"
#include "remote_support.h"
#include "server/status.h"
#include "web/prometheus.h"

namespace vgd {
namespace {

using remote::test::FakeQemu;
using remote::test::open_fds;

constexpr uint64_t kBar0 = 0xfd000000;  // where SeaBIOS put it in the reference run

class VmAttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonConfig cfg;
    VgpuSpec vm;
    vm.guest = GuestKind::Qemu;
    cfg.vgpus = {VgpuSpec{}, vm};  // 1: a builtin desktop, 2: waits for a VM
    daemon.start(cfg, "vm-attach");
    auto c = client::Connection::connect(daemon.path, "vm-attach-test");
    ASSERT_TRUE(c.has_value()) << c.error().message;
    conn.emplace(std::move(*c));
  }
  void TearDown() override { daemon.stop(); }

  proto::VgpuState state(uint32_t id) {
    auto l = conn->list();
    EXPECT_TRUE(l.has_value());
    for (const auto& v : *l)
      if (v.id == id) return v.state;
    return proto::VgpuState::GuestFailed;
  }
  // What firmware does before a driver runs: BAR0 placed, memory decoding on.
  static void place_bar0(FakeQemu& q) {
    q.config_write(0x10, 4, static_cast<uint32_t>(kBar0));
    q.config_write(0x04, 2, 0x0002);
  }
  uint64_t builtin_vblanks() {
    auto* hv = daemon.host->find(1);
    const Locked lk(hv->lock());
    return hv->vgpu().display().stats().vblanks[0];
  }

  test::RunningDaemon daemon;
  std::optional<client::Connection> conn;
};

TEST_F(VmAttachTest, TheSocketServesTheVgpuAsAPciDevice) {
  EXPECT_EQ(state(2), proto::VgpuState::NoVm);
  auto sock = conn->attach_vm(2);
  ASSERT_TRUE(sock.has_value()) << sock.error().message;
  FakeQemu q(std::move(*sock));
  EXPECT_EQ(q.config_read(0x00, 2), hw::kVgpuVendorId);
  EXPECT_EQ(q.config_read(0x02, 2), hw::kVgpuDeviceId);
  place_bar0(q);
  EXPECT_EQ(q.bar_read(kBar0 + hw::kPvinfoOffset + hw::pv::kMagic, 8), hw::kPvinfoMagic);
  EXPECT_EQ(state(2), proto::VgpuState::DisplayOff) << "a VM is attached; its display is not on yet";
  {
    auto* hv = daemon.host->find(2);
    const Locked lk(hv->lock());
    EXPECT_TRUE(hv->vgpu().pv_aware()) << "the VM's read of PVINFO reached the vGPU";
  }
}

TEST_F(VmAttachTest, OneVmAtATimeAndOnlyOnAVgpuConfiguredForOne) {
  auto first = conn->attach_vm(2);
  ASSERT_TRUE(first.has_value());
  auto second = conn->attach_vm(2);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, proto::Status::Busy);
  auto builtin = conn->attach_vm(1);
  ASSERT_FALSE(builtin.has_value());
  EXPECT_EQ(builtin.error().code, proto::Status::Invalid);
  auto none = conn->attach_vm(9);
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, proto::Status::NoEntry);
}

TEST_F(VmAttachTest, AMalformedMessageDetachesThatVmOnlyAndANewOneMayAttach) {
  {
    auto sock = conn->attach_vm(2);
    ASSERT_TRUE(sock.has_value());
    FakeQemu q(std::move(*sock));
    place_bar0(q);
    // A header announcing more than the 192 payload bytes QEMU ever sends.
    std::vector<std::byte> bad(16, std::byte{0});
    bad[0] = std::byte{5};
    bad[9] = std::byte{1};  // size = 256
    q.send_raw(bad);
    EXPECT_TRUE(q.closed_by_device());
  }
  ASSERT_TRUE(remote::test::eventually([&] { return state(2) == proto::VgpuState::NoVm; }));
  const size_t fds_after_one = open_fds();
  // The dashboard and /metrics say how it went.
  server::StatusCollector collector;
  std::string metrics;
  ASSERT_TRUE(remote::test::eventually([&] {
    const auto s = collector.collect(*daemon.host, *daemon.srv);
    const auto* v = s.find(2);
    metrics = web::prometheus_text(s);
    return v && v->vm && !v->vm->attached && v->vm->last_detach.rfind("malformed message", 0) == 0;
  }));
  EXPECT_NE(metrics.find("vgpud_vm_detaches_total{vgpu=\"2\",reason=\"malformed message\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("vgpud_vm_attaches_total{vgpu=\"2\"} 1"), std::string::npos);
  EXPECT_FALSE(collector.collect(*daemon.host, *daemon.srv).find(1)->vm.has_value()) << "a builtin guest has no VM status";
  const uint64_t before = builtin_vblanks();
  EXPECT_TRUE(remote::test::eventually([&] { return builtin_vblanks() > before + 3; }))
      << "the builtin guest's vGPU keeps its vblanks";

  auto again = conn->attach_vm(2);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  {
    FakeQemu q(std::move(*again));
    place_bar0(q);
    EXPECT_EQ(q.bar_read(kBar0 + hw::kPvinfoOffset + hw::pv::kMagic, 8), hw::kPvinfoMagic);
  }  // QEMU goes away
  ASSERT_TRUE(remote::test::eventually([&] { return state(2) == proto::VgpuState::NoVm; }));
  EXPECT_TRUE(remote::test::eventually([&] { return open_fds() == fds_after_one; }))
      << "a VM that came and went leaves no descriptor behind";
}

// A VM that traps as fast as it can takes only its own vGPU's lock, one access at a time: the
// builtin guest's vGPU beside it keeps its vblanks, and so does its own.
TEST_F(VmAttachTest, AVmHammeringMmioDelaysNoOtherVgpu) {
  auto sock = conn->attach_vm(2);
  ASSERT_TRUE(sock.has_value());
  FakeQemu q(std::move(*sock));
  place_bar0(q);
  const auto vblanks_of = [&](uint32_t id) NO_THREAD_SAFETY_ANALYSIS {
    auto* hv = daemon.host->find(id);
    const Locked lk(hv->lock());
    return hv->vgpu().display().stats().vblanks[0];
  };
  // Light vGPU 2's pipe so it has vblanks of its own to keep.
  q.bar_write(kBar0 + 0x70008, 4, 1u << 31);
  const uint64_t one0 = vblanks_of(1), two0 = vblanks_of(2);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  uint64_t traps = 0;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(q.bar_read(kBar0 + 0x1000, 4).has_value());
    ++traps;
  }
  // A second at 60 Hz is 60 vblanks; a third of that is a generous floor for a loaded machine.
  EXPECT_GE(vblanks_of(1) - one0, 20u) << "the builtin guest's vGPU while the VM made " << traps << " traps";
  EXPECT_GE(vblanks_of(2) - two0, 20u) << "the VM's own vGPU between its traps";
}

}  // namespace
}  // namespace vgd
