// Tearing control, deterministically (vblanks called by hand, a fake clock for hold times):
// hold delays a sync primary flip's flip-done while a consumer holds the buffer it replaced, up
// to a bound; copy gives consumers shadow copies of whole frames, made when a consumer asks,
// and delays a guest's flip-done only while the surface it flips away from is being copied.
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <set>

#include "decode/decoder.h"
#include "exporter/tearing.h"
#include "hw/display.h"
#include "plane_support.h"
#include "support.h"

namespace vgd::exporter {
namespace {

using test::kFrame0;
using test::kGtt;
using test::kOn;
using test::pte;

using hw::Pipe;
using hw::Plane;

constexpr uint32_t kW = test::SmallPrimary::kW, kH = test::SmallPrimary::kH;
constexpr uint64_t kPages = test::SmallPrimary::kPages;
constexpr uint32_t kAsync = 1u << 9;
constexpr uint32_t kXrgb = 4u << 24;
constexpr ConsumerKey kA{1}, kB{2};  // two consumers of the vGPU

// One vGPU whose pipe A shows a 64×64 primary flipped synchronously among surfaces 0..3
// (surface k: GM pages [4k, 4k + 4) → RAM frames kFrame0 + 4k...). No clock: vblank() by hand.
class TearingTest : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create();
    wr(*v, hw::irq::imr(Pipe::A), 0);
    test::SmallPrimary::light(*v, 4);
    flip(0);
    v->vblank();
    (void)flip_done();
    ExporterOptions o;
    o.udmabuf = false;
    ex = std::make_unique<Exporter>(v->ram_ref(), o);
  }
  static uint64_t reg(uint64_t r) { return test::SmallPrimary::reg(r); }
  Gma gm(uint64_t page) const { return test::SmallPrimary::gm(*v, page); }
  uint32_t surface(uint64_t k) const { return test::SmallPrimary::surface(*v, k); }
  void flip(uint64_t k) { wr(*v, reg(hw::plane::kSurf), surface(k)); }
  uint32_t live() { return static_cast<uint32_t>(rd(*v, reg(hw::plane::kSurfLive))); }
  // Reads and acknowledges the primary flip-done, as the guest does.
  bool flip_done() {
    const bool set = (rd(*v, hw::irq::iir(Pipe::A)) & hw::irq::kPrimaryFlipDone) != 0;
    wr(*v, hw::irq::iir(Pipe::A), hw::irq::kPrimaryFlipDone);
    return set;
  }
  void fill(uint64_t k, uint8_t byte) {
    for (uint64_t p = 0; p < kPages; ++p)
      std::memset(v->ram().host_bytes(MemfdOffset::from_page(kFrame0 + k * kPages + p), kPageSize).data(), byte, kPageSize);
  }
  GfxPlaneInfo request() const {
    GfxPlaneInfo q;
    q.argsz = sizeof q, q.flags = kFlagDmabuf, q.drm_plane_type = kPlanePrimary;
    return q;
  }
  DecodeResult decoded() const { return decode::decode_plane(decode::snapshot(v->vregs(), Pipe::A), Plane::Primary, v->ggtt()); }

  Vgpu* v = nullptr;
  std::unique_ptr<Exporter> ex;
};

// --- hold ---

class HoldTest : public TearingTest {
 protected:
  void SetUp() override {
    TearingTest::SetUp();
    gate = std::make_unique<HoldGate>(*ex, [this] { return now_ns; });
    v->add_flip_done_gate(gate.get(), kHoldVblanks);
  }
  void TearDown() override { v->remove_flip_done_gate(gate.get()); }
  // A consumer takes the buffer on screen and keeps it.
  uint32_t export_front() {
    auto q = ex->query(kA, request(), decoded());
    EXPECT_TRUE(q) << q.error().message;
    EXPECT_TRUE(ex->get(kA, q->dmabuf_id)) << "get";
    return q->dmabuf_id;
  }

  uint64_t now_ns = 1'000'000;
  std::unique_ptr<HoldGate> gate;
};

TEST_F(HoldTest, WithoutConsumersFlipDoneComesAtTheLatchingVblank) {
  for (uint64_t k : {1, 0, 1}) {
    flip(k);
    EXPECT_FALSE(flip_done()) << "synchronous: not before the vblank";
    v->vblank();
    EXPECT_EQ(live(), surface(k));
    EXPECT_TRUE(flip_done()) << "surface " << k;
  }
  EXPECT_EQ(gate->counters().held, 0u);
  EXPECT_EQ(v->display().stats().held, 0u);
}

TEST_F(HoldTest, ConsumerHoldingTheOldFrameDelaysFlipDoneUntilItReleases) {
  const uint32_t old = export_front();
  flip(1);
  v->vblank();
  EXPECT_EQ(live(), surface(1)) << "the screen shows the new frame at its vblank";
  EXPECT_FALSE(flip_done()) << "the guest may not draw into surface 0 yet";
  EXPECT_TRUE(v->display().held(Pipe::A, Plane::Primary));
  v->retry_held_flips();
  EXPECT_FALSE(flip_done()) << "still held";
  now_ns += 5'000'000;
  ASSERT_TRUE(ex->release(kA, old));
  v->retry_held_flips();
  EXPECT_TRUE(flip_done()) << "raised as soon as the consumer let go";
  EXPECT_FALSE(v->display().held(Pipe::A, Plane::Primary));
  const TearingCounters& c = gate->counters();
  EXPECT_EQ(c.held, 1u);
  EXPECT_EQ(c.hold_timeouts, 0u);
  EXPECT_EQ(c.hold_ns_total, 5'000'000u);
  v->vblank();
  EXPECT_FALSE(flip_done()) << "raised once";
}

TEST_F(HoldTest, ReleaseWithoutRetryCompletesAtTheNextVblank) {
  const uint32_t old = export_front();
  flip(1);
  v->vblank();
  ASSERT_TRUE(ex->release(kA, old));
  EXPECT_FALSE(flip_done());
  v->vblank();
  EXPECT_TRUE(flip_done()) << "the gate is asked again at every vblank";
  EXPECT_EQ(gate->counters().hold_timeouts, 0u);
}

TEST_F(HoldTest, ConsumerThatNeverReleasesDelaysTheGuestByTheBoundOnly) {
  (void)export_front();
  for (int frame = 0; frame < 3; ++frame) {
    flip(1);
    v->vblank();
    for (uint32_t i = 1; i < kHoldVblanks; ++i) {
      EXPECT_FALSE(flip_done()) << "frame " << frame << ", vblank " << i;
      now_ns += 16'666'667;
      v->vblank();
    }
    EXPECT_FALSE(flip_done());
    now_ns += 16'666'667;
    v->vblank();
    EXPECT_TRUE(flip_done()) << "frame " << frame << ": raised anyway after " << kHoldVblanks << " vblanks";
    flip(0);  // back to the held buffer's surface: nothing held in between, then it repeats
    v->vblank();
    EXPECT_TRUE(flip_done()) << "surface 1 is held by nobody";
  }
  const TearingCounters& c = gate->counters();
  EXPECT_EQ(c.held, 3u);
  EXPECT_EQ(c.hold_timeouts, 3u);
  EXPECT_EQ(c.hold_ns_max, kHoldVblanks * 16'666'667u);
  EXPECT_EQ(v->display().stats().hold_timeouts, 3u);
}

TEST_F(HoldTest, AsyncFlipsAndFlipsToTheSameSurfaceAreNotHeld) {
  (void)export_front();
  flip(0);  // the surface already shown: it frees nothing
  v->vblank();
  EXPECT_TRUE(flip_done());
  wr(*v, reg(hw::plane::kCtl), kOn | kXrgb | kAsync);
  flip(1);
  EXPECT_TRUE(flip_done()) << "an async flip completes at once";
  EXPECT_EQ(live(), surface(1));
  EXPECT_EQ(gate->counters().held, 0u);
}

TEST_F(HoldTest, StoppingThePipeDropsTheHold) {
  (void)export_front();
  flip(1);
  v->vblank();
  ASSERT_TRUE(v->display().held(Pipe::A, Plane::Primary));
  wr(*v, hw::pipe::kConf, 0);
  EXPECT_FALSE(v->display().held(Pipe::A, Plane::Primary));
  EXPECT_FALSE(flip_done()) << "a stopped pipe raises no flip-done";
}

// --- copy ---

class CopyTest : public TearingTest {
 protected:
  void SetUp() override {
    TearingTest::SetUp();
    shadows = std::make_unique<ShadowFrames>(v->ram_ref(), v->type());
    v->set_latch_listener([this](Vgpu& g, const display::VblankReport& r) { shadows->on_vblank(g, r); });
  }
  void TearDown() override { v->set_latch_listener({}); }
  // A primary query as the daemon's ConsumerPort makes it: a copy first when one is owed.
  Expected<GfxPlaneInfo, ExportError> query(ConsumerKey who = kA) {
    const DecodeResult d = decoded();
    if (shadows->owed() && d) (void)shadows->capture(*d);
    return shadows->query(who, request(), d);
  }
  // What a consumer is told after an event: the front shadow's id (of a 64-pixel-wide frame
  // `rows` high).
  uint32_t query_id(ConsumerKey who = kA, uint32_t rows = kH) {
    auto q = query(who);
    EXPECT_TRUE(q) << q.error().message;
    EXPECT_EQ(q->width, kW);
    EXPECT_EQ(q->height, rows);
    EXPECT_EQ(q->size, kW * 4 * rows);
    return q ? q->dmabuf_id : 0;
  }
  // The first and last byte of a buffer's mapping, through the consumer's descriptor.
  struct Mapped {
    const uint8_t* p = nullptr;
    size_t len = 0;
    ~Mapped() {
      if (p) ::munmap(const_cast<uint8_t*>(p), len);
    }
    bool all(uint8_t b) const { return std::all_of(p, p + len, [b](uint8_t x) { return x == b; }); }
  };
  void map(const ExportedBuffer& b, Mapped& m) {
    ASSERT_EQ(b.extents.size(), 1u);
    EXPECT_EQ(::mmap(nullptr, b.extents[0].length, PROT_READ | PROT_WRITE, MAP_SHARED, b.fd.get(), 0), MAP_FAILED)
        << "the consumer's descriptor is read-only";
    void* p = ::mmap(nullptr, b.extents[0].length, PROT_READ, MAP_SHARED, b.fd.get(), 0);
    ASSERT_NE(p, MAP_FAILED);
    m.p = static_cast<const uint8_t*>(p);
    m.len = b.extents[0].length;
  }
  // Guest: draw surface k, flip to it, and see flip-done at that very vblank.
  void present(uint64_t k, uint8_t byte) {
    fill(k, byte);
    flip(k);
    v->vblank();
    EXPECT_TRUE(flip_done()) << "copy never delays the guest";
  }

  std::unique_ptr<ShadowFrames> shadows;
};

TEST_F(CopyTest, ConsumerSeesTheNewFrameAndNotWhatTheGuestDrawsNext) {
  present(1, 0xB1);
  const uint32_t id = query_id();
  EXPECT_TRUE(ShadowFrames::owns(id));
  auto b = shadows->get(kA, id);
  ASSERT_TRUE(b) << b.error().message;
  Mapped m;
  map(*b, m);
  EXPECT_TRUE(m.all(0xB1)) << "the frame latched at the vblank";
  fill(0, 0xCC);  // the guest draws the next frame into the back buffer...
  EXPECT_TRUE(m.all(0xB1));
  fill(1, 0xDD);  // ... or, misbehaving, into the one on screen
  EXPECT_TRUE(m.all(0xB1)) << "the consumer's frame is a copy";
  present(0, 0xCC);
  EXPECT_TRUE(m.all(0xB1)) << "a held shadow is never written";
  const uint32_t next = query_id();
  EXPECT_NE(next, id);
  auto b2 = shadows->get(kA, next);
  ASSERT_TRUE(b2);
  Mapped m2;
  map(*b2, m2);
  EXPECT_TRUE(m2.all(0xCC));
  EXPECT_TRUE(shadows->release(kA, id));
  EXPECT_TRUE(shadows->release(kA, next));
  EXPECT_FALSE(shadows->release(kA, next)) << "nothing outstanding";
}

TEST_F(CopyTest, TwoShadowIdsAlternateAsTheGuestFlips) {
  std::set<uint32_t> ids;
  for (int i = 0; i < 20; ++i) {
    present(i % 2, static_cast<uint8_t>(i));
    const uint32_t id = query_id();
    ids.insert(id);
    auto b = shadows->get(kA, id);
    ASSERT_TRUE(b);
    Mapped m;
    map(*b, m);
    EXPECT_TRUE(m.all(static_cast<uint8_t>(i))) << "frame " << i;
    ASSERT_TRUE(shadows->release(kA, id));
  }
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(shadows->counters().copies, 20u) << "every latched flip (the first frame is one)";
  EXPECT_EQ(shadows->counters().copy_bytes, 20 * kPages * kPageSize);
}

TEST_F(CopyTest, BothShadowsHeldSkipsTheCopyUntilOneIsReleased) {
  present(1, 0x11);
  const uint32_t a = query_id();
  ASSERT_TRUE(shadows->get(kA, a));
  present(0, 0x22);
  const uint32_t b = query_id();
  ASSERT_TRUE(shadows->get(kA, b));
  present(1, 0x33);  // flip-done raised all the same
  EXPECT_EQ(query_id(), b) << "consumers skip a frame rather than see a torn one";
  EXPECT_EQ(shadows->counters().copy_skipped, 1u);
  ASSERT_TRUE(shadows->release(kA, a));
  v->vblank();  // no flip: the copy is still owed, and made at the next query
  EXPECT_EQ(query_id(), a);
  auto got = shadows->get(kA, a);
  ASSERT_TRUE(got);
  Mapped m;
  map(*got, m);
  EXPECT_TRUE(m.all(0x33));
}

TEST_F(CopyTest, NewGeometryGetsNewIdsAndNoPlaneStaysNoPlane) {
  present(1, 0x44);
  const uint32_t before = query_id();
  wr(*v, hw::trans::kPipeSrc, (kW - 1) << 16 | (kH / 2 - 1));
  std::set<uint32_t> ids;
  for (uint64_t k : {0, 1}) {
    present(k, 0x55);
    auto q = query();
    ASSERT_TRUE(q);
    EXPECT_EQ(q->height, kH / 2);
    EXPECT_EQ(q->size, kPages * kPageSize / 2);
    ids.insert(q->dmabuf_id);
  }
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_FALSE(ids.contains(before)) << "a consumer's cache keyed by id never sees the new geometry under an old id";
  EXPECT_FALSE(shadows->get(kA, before)) << "the old id went with its memfd";
  auto q = query();
  wr(*v, reg(hw::plane::kCtl), 0);
  q = query();
  ASSERT_TRUE(q);
  EXPECT_TRUE(no_plane(*q)) << "a disabled plane is zeroed, not the last shadow";
}

// A consumer told about a shadow can get it whatever happens before: a new geometry goes to the
// other shadow, and the pinned one keeps its id (and memfd) until its consumer moves on.
TEST_F(CopyTest, APinnedShadowKeepsItsIdThroughAGeometryChange) {
  present(1, 0x44);
  const uint32_t s = query_id(kA);
  wr(*v, hw::trans::kPipeSrc, (kW - 1) << 16 | (kH / 2 - 1));
  present(0, 0x55);
  present(1, 0x66);  // the other shadow takes both frames: the pinned one cannot change geometry
  const uint32_t now = query_id(kB, kH / 2);
  EXPECT_NE(now, s);
  EXPECT_GT(now, s) << "shadow ids grow too";
  auto b = shadows->get(kA, s);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->height, kH) << "the shadow A was told about, as it was described";
  ASSERT_TRUE(shadows->release(kA, s));
  EXPECT_EQ(query_id(kA, kH / 2), now);
  present(0, 0x77);  // nobody pins or holds s: it may take the new geometry, under a new id
  const uint32_t next = query_id(kA, kH / 2);
  EXPECT_GT(next, now);
  EXPECT_FALSE(shadows->contains(s));
}

TEST_F(CopyTest, ShadowReferencesAreEachConsumersOwn) {
  present(1, 0x11);
  const uint32_t a = query_id(kA);
  ASSERT_TRUE(shadows->get(kA, a));
  EXPECT_FALSE(shadows->release(kB, a)) << "B holds no reference on it";
  present(0, 0x22);
  const uint32_t b = query_id(kA);
  ASSERT_TRUE(shadows->get(kA, b));
  present(1, 0x33);
  EXPECT_EQ(query_id(kB), b);
  EXPECT_EQ(shadows->counters().copy_skipped, 1u) << "A holds both";
  shadows->forget(kA);  // A disconnects
  (void)query_id(kB);
  EXPECT_EQ(shadows->counters().copies, 3u) << "the owed copy, made as soon as A is gone";
  EXPECT_FALSE(shadows->release(kA, a));
}

TEST_F(CopyTest, VblanksCopyNothingAConsumerQueryCopiesOnce) {
  for (int i = 0; i < 5; ++i) present(i % 2, static_cast<uint8_t>(i));
  EXPECT_EQ(shadows->counters().copies, 0u) << "the vblank path copies no frame";
  EXPECT_TRUE(shadows->owed());
  (void)query_id();
  (void)query_id();
  EXPECT_EQ(shadows->counters().copies, 1u) << "one copy for the frame on screen, none for a repeated query";
}

// The copy runs outside the vGPU's lock: meanwhile the guest's flip away from the surface being
// copied latches (the screen moves on), but its flip-done, the guest's leave to draw into that
// surface, waits for the copy to end.
TEST_F(CopyTest, AFlipAwayFromTheSurfaceBeingCopiedWaitsForTheCopy) {
  HoldGate gate([this](Gma base) { return shadows->copying(base); }, [] { return uint64_t{0}; });
  v->add_flip_done_gate(&gate, kHoldVblanks);
  present(1, 0x66);
  const DecodeResult d = decoded();
  ASSERT_TRUE(d);
  auto job = shadows->begin_capture(*d);
  ASSERT_TRUE(job);
  fill(0, 0x77);
  flip(0);
  v->vblank();
  EXPECT_EQ(live(), surface(0)) << "the flip latched";
  EXPECT_FALSE(flip_done()) << "but the guest may not draw into surface 1 yet";
  ShadowFrames::run(*job);
  shadows->end_capture(*job);
  v->retry_held_flips();
  EXPECT_TRUE(flip_done()) << "the copy is over";
  auto b = shadows->get(kA, shadows->front_id());
  ASSERT_TRUE(b);
  Mapped m;
  map(*b, m);
  EXPECT_TRUE(m.all(0x66)) << "the copy is the frame that was on screen when it began";
  EXPECT_EQ(gate.counters().held, 1u);
  v->remove_flip_done_gate(&gate);
}

}  // namespace
}  // namespace vgd::exporter
