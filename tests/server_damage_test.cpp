// Damage hints for consumers over the socket (docs/protocol.md §3.9): a vGPU whose "guest" is
// this test, writing PVINFO under the vGPU's lock while the daemon's clock runs its vblanks;
// consumers ask with GetDamage, raw packets.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "daemon_support.h"
#include "support.h"

namespace vgd {
namespace {

using proto::MsgType;
using proto::Packet;
using test::Conn;

constexpr uint32_t kVgpu = 1;
constexpr uint64_t kRect0 = 0x78880, kCtl = 0x78900, kSubmit = 0x78904;
constexpr uint64_t kPipeConfA = 0x70008, kFrameCountA = 0x70040, kPlaneCtlA = 0x70180;

struct Answer {
  uint32_t flags = 0;
  std::vector<proto::DamageRect> rects;
  bool hinted() const { return flags & proto::kDamageHinted; }
  bool whole() const { return flags & proto::kDamageWhole; }
};

class ServerDamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonConfig cfg;
    VgpuSpec spec;
    spec.guest = GuestKind::Qemu;  // no guest of its own: the test writes its registers
    cfg.vgpus = {spec};
    daemon.start(cfg, "damage");
    hv = daemon.host->find(kVgpu);
    ASSERT_NE(hv, nullptr);
    const Locked lk(hv->lock());
    test::program_mode(hv->vgpu(), hw::Pipe::A, 1024, 768, 60);
    write(kPlaneCtlA, 1u << 31);
    write(kPipeConfA, 1u << 31);
  }
  void TearDown() override { daemon.stop(); }

  void write(uint64_t off, uint64_t v, unsigned size = 4) NO_THREAD_SAFETY_ANALYSIS {
    EXPECT_EQ(hv->vgpu().write(MmioOffset(off), size, v), AccessStatus::Ok);
  }
  void guest(uint64_t off, uint64_t v, unsigned size = 4) {
    const Locked lk(hv->lock());
    write(off, v, size);
  }
  void rect(unsigned i, uint16_t x, uint16_t y, uint16_t w, uint16_t h) {
    guest(kRect0 + 8 * i, uint64_t{x} | uint64_t{y} << 16 | uint64_t{w} << 32 | uint64_t{h} << 48, 8);
  }
  // Returns once a vblank ran after everything the test wrote so far.
  void next_vblank() {
    const auto frames = [this] {
      const Locked lk(hv->lock());
      uint64_t v = 0;
      (void)hv->vgpu().read(MmioOffset(kFrameCountA), 4, v);
      return v;
    };
    const uint64_t before = frames();
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (frames() == before && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_NE(frames(), before) << "no vblank within 5 s";
  }
  std::unique_ptr<Conn> consumer() {
    auto c = std::make_unique<Conn>(daemon.path);
    c->hello();
    EXPECT_TRUE(Conn::ok(c->call(MsgType::Open, kVgpu)));
    return c;
  }
  static Answer ask(Conn& c, uint32_t plane = proto::kPlanePrimary) {
    const Packet r = c.call(MsgType::GetDamage, kVgpu, proto::DamageRequest{plane, 0});
    Answer a;
    proto::DamageReply head;
    EXPECT_TRUE(Conn::ok(r)) << proto::error_text(r);
    if (!r.read(head)) return a;
    a.flags = head.flags;
    for (uint32_t i = 0; i < head.count; ++i) {
      proto::DamageRect x;
      EXPECT_TRUE(r.read(x, sizeof head + i * sizeof x));
      a.rects.push_back(x);
    }
    return a;
  }
  // Hints on, and each consumer told the whole plane once (what it had not seen described).
  void hints_on(std::initializer_list<Conn*> cs) {
    guest(kCtl, 1);
    next_vblank();
    for (Conn* c : cs) EXPECT_TRUE(ask(*c).whole());
  }

  test::RunningDaemon daemon;
  server::HostedVgpu* hv = nullptr;
};

bool same(const proto::DamageRect& r, uint32_t x, uint32_t y, uint32_t w, uint32_t h) {
  return r.x == x && r.y == y && r.width == w && r.height == h;
}

TEST_F(ServerDamageTest, HelloAdvertisesItAndAPlaneWithoutHintsSaysSo) {
  Conn c(daemon.path);
  const Packet hello = c.call(MsgType::Hello, 0, proto::HelloRequest{});
  proto::HelloReply h;
  ASSERT_TRUE(hello.read(h));
  EXPECT_EQ(h.features & proto::kFeatureDamage, proto::kFeatureDamage);
  EXPECT_TRUE(Conn::ok(c.call(MsgType::Open, kVgpu)));
  next_vblank();
  const Answer a = ask(c);
  EXPECT_EQ(a.flags, 0u) << "no hints: compare pixels";
  EXPECT_TRUE(a.rects.empty());
  const Packet bad = c.call(MsgType::GetDamage, kVgpu, proto::DamageRequest{7, 0});
  EXPECT_EQ(proto::error_code(bad), proto::Status::Invalid);
}

TEST_F(ServerDamageTest, DeliveredOncePerConsumerAndEveryConsumerGetsAllOfIt) {
  auto a = consumer(), b = consumer();
  hints_on({a.get(), b.get()});
  rect(0, 10, 20, 30, 40);
  guest(kSubmit, 1);
  next_vblank();
  const Answer first = ask(*a);
  EXPECT_TRUE(first.hinted());
  ASSERT_EQ(first.rects.size(), 1u);
  EXPECT_TRUE(same(first.rects[0], 10, 20, 30, 40));
  const Answer again = ask(*a);
  EXPECT_TRUE(again.hinted() && !again.whole() && again.rects.empty()) << "told once";
  rect(0, 100, 100, 8, 8);
  guest(kSubmit, 1);
  next_vblank();
  const Answer both = ask(*b);  // b has not asked since hints came on
  ASSERT_EQ(both.rects.size(), 2u);
  EXPECT_TRUE(same(both.rects[0], 10, 20, 30, 40) && same(both.rects[1], 100, 100, 8, 8));
  EXPECT_EQ(ask(*a).rects.size(), 1u);
  EXPECT_FALSE(ask(*a, proto::kPlaneCursor).hinted()) << "the cursor has no hints";
}

TEST_F(ServerDamageTest, MoreThanSixteenRectanglesMergeIntoTheirBoundingBox) {
  auto c = consumer();
  hints_on({c.get()});
  for (unsigned round = 0; round < 2; ++round) {
    for (unsigned i = 0; i < 16; ++i) rect(i, static_cast<uint16_t>(i * 20 + round * 400), 5, 4, 4);
    guest(kSubmit, 16);
  }
  next_vblank();
  const Answer a = ask(*c);
  EXPECT_TRUE(a.hinted() && !a.whole());
  EXPECT_LE(a.rects.size(), proto::kMaxDamageRects);
  EXPECT_LT(a.rects.size(), 32u) << "merged";
  for (unsigned round = 0; round < 2; ++round)
    for (unsigned i = 0; i < 16; ++i) {
      const uint32_t x = i * 20 + round * 400;
      const bool covered = std::any_of(a.rects.begin(), a.rects.end(), [&](const proto::DamageRect& r) {
        return r.x <= x && r.y <= 5 && r.x + r.width >= x + 4 && r.y + r.height >= 9;
      });
      EXPECT_TRUE(covered) << "the rectangle at x " << x << " was lost";
    }
}

TEST_F(ServerDamageTest, BadSubmitsAreCountedAndTakenAsTheWholePlane) {
  auto c = consumer();
  hints_on({c.get()});
  guest(kSubmit, 20);  // count > 16
  next_vblank();
  EXPECT_TRUE(ask(*c).whole());
  const Locked lk(hv->lock());
  EXPECT_EQ(hv->vgpu().counters().attacks[GuestAttack::DamageSubmitInvalid], 1u);
  EXPECT_EQ(hv->vgpu().counters().damage_submits, 1u);
}

TEST_F(ServerDamageTest, ResetClearsHints) {
  auto c = consumer();
  hints_on({c.get()});
  {
    const Locked lk(hv->lock());
    hv->vgpu().reset();
    test::program_mode(hv->vgpu(), hw::Pipe::A, 1024, 768, 60);
    write(kPlaneCtlA, 1u << 31);
    write(kPipeConfA, 1u << 31);
    uint64_t ctl = 1;
    (void)hv->vgpu().read(MmioOffset(kCtl), 4, ctl);
    EXPECT_EQ(ctl, 0u);
  }
  next_vblank();
  EXPECT_FALSE(ask(*c).hinted()) << "after a reset the guest has to switch hints on again";
}

// The builtin console guest switches hints on; its vGPU's published status says so and counts.
TEST(ServerDamageStatus, PublishedWithTheVgpusStatus) {
  test::RunningDaemon d;
  DaemonConfig cfg;
  VgpuSpec console, plain;
  console.workload = plain.workload = Workload::Console;
  plain.damage_hints = false;  // not offered: the same console without them
  cfg.vgpus = {console, plain};
  d.start(cfg, "damage-status");
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  server::VgpuStatus a, b;
  while (std::chrono::steady_clock::now() < until) {
    a = d.host->vgpus()[0]->published(), b = d.host->vgpus()[1]->published();
    if (a.damage_hints && a.counters.damage_submits > 10 && b.vblanks > 10) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(a.damage_hints);
  EXPECT_GT(a.counters.damage_submits, 10u);
  EXPECT_EQ(a.counters.attacks[GuestAttack::DamageSubmitInvalid], 0u);
  EXPECT_FALSE(b.damage_hints);
  EXPECT_EQ(b.counters.damage_submits, 0u);
}

}  // namespace
}  // namespace vgd
