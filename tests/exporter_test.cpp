// The exporter as consumers see it while a guest flips (docs/protocol.md §3.4, §4): stable ids
// for a double-buffered guest, a new id when any page of the plane is remapped, ids never given
// twice, a bounded cache of idle buffers, references and pins per consumer, read-only
// descriptors, and buffers that outlive their vGPU.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "decode/decoder.h"
#include "exporter/exporter.h"
#include "hw/display.h"
#include "plane_support.h"
#include "support.h"

namespace vgd::exporter {
namespace {

using test::kFrame0;
using test::kGtt;
using test::kOn;
using test::pte;

using Result = Expected<GfxPlaneInfo, ExportError>;

constexpr ConsumerKey kA{1}, kB{2};  // two consumers of the vGPU

constexpr uint32_t kW = test::SmallPrimary::kW, kH = test::SmallPrimary::kH;
constexpr uint64_t kPages = test::SmallPrimary::kPages;
constexpr uint64_t kSurfaces = 16;
constexpr uint32_t kAsync = 1u << 9;

// One vGPU whose pipe A shows a 64×64 primary; surface k is GM pages [4k, 4k + 4) of its
// aperture, backed by RAM frames kFrame0 + 4k... Flips are asynchronous: they latch at once.
class ExporterTest : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create();
    test::SmallPrimary::light(*v, kSurfaces, kAsync);
    flip(0);
    make_exporter({});
  }
  void make_exporter(ExporterOptions o) { ex = std::make_unique<Exporter>(v->ram_ref(), std::move(o)); }
  static uint64_t reg(uint32_t universal, uint64_t r) { return hw::plane::reg(hw::Pipe::A, universal, r); }
  Gma gm(uint64_t page) const { return test::SmallPrimary::gm(*v, page); }
  void map(Gma at, uint64_t n, uint64_t first) {
    for (uint64_t k = 0; k < n; ++k) wr(*v, kGtt + 8 * (at.page() + k), pte(first + k), 8);
  }
  void flip(uint64_t surface) { wr(*v, reg(1, hw::plane::kSurf), gm(surface * kPages).value()); }

  Result query(uint32_t type = kPlanePrimary, ConsumerKey who = kA) {
    GfxPlaneInfo req;
    req.argsz = sizeof req, req.flags = kFlagDmabuf, req.drm_plane_type = type;
    return ex->query(who, req, [&](hw::Plane p) {
      return decode::decode_plane(decode::snapshot(v->vregs(), hw::Pipe::A), p, v->ggtt());
    });
  }
  // Flip to a surface and return the id a consumer is given for it.
  uint32_t show(uint64_t surface, ConsumerKey who = kA) {
    flip(surface);
    const Result r = query(kPlanePrimary, who);
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->dmabuf_id : 0;
  }
  std::span<std::byte> frame(uint64_t f) const { return v->ram().host_bytes(MemfdOffset::from_page(f), kPageSize); }

  Vgpu* v = nullptr;
  std::unique_ptr<Exporter> ex;
};

TEST_F(ExporterTest, QueryDescribesThePrimaryAndNamesABuffer) {
  const Result r = query();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->drm_format, hw::drm::kXRGB8888);
  EXPECT_EQ(r->drm_format_mod, hw::drm::kModLinear);
  EXPECT_EQ(r->width, kW);
  EXPECT_EQ(r->height, kH);
  EXPECT_EQ(r->stride, kW * 4);
  EXPECT_EQ(r->size, kPages * kPageSize);
  EXPECT_EQ(r->dmabuf_id, 1u) << "ids start at 1";
}

TEST_F(ExporterTest, DoubleBufferedGuestCyclesBetweenTwoStableIds) {
  const uint32_t front = show(0), back = show(1);
  EXPECT_NE(front, back);
  std::set<uint32_t> seen;
  for (int i = 0; i < 100; ++i) {
    const uint32_t id = show(i % 2);
    EXPECT_EQ(id, i % 2 ? back : front) << "flip " << i;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(ex->counters().misses, 2u) << "no buffer created in steady state";
  EXPECT_EQ(ex->counters().hits, 100u);
  EXPECT_EQ(ex->counters().live, 2u);
}

// Upstream compared only the first page: remapping any later page showed stale content.
class RemapTest : public ExporterTest, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(RemapTest, RemappingAnyPageOfThePlaneIsANewBuffer) {
  const uint64_t page = GetParam();
  const uint32_t before = show(0);
  map(gm(page), 1, 0x3000);
  const uint32_t after = show(0);
  EXPECT_NE(after, before) << "page " << page << " remapped, same id: the consumer would see stale pages";
  auto b = ex->get(kA, after);
  ASSERT_TRUE(b) << b.error().message;
  uint64_t at = 0, found = ~0ull;  // where in the plane the new frame shows up
  for (const Extent& e : b->extents) {
    if (e.offset == 0x3000 * kPageSize) found = at;
    at += e.length;
  }
  EXPECT_EQ(found, page * kPageSize);
  map(gm(page), 1, kFrame0 + page);
  EXPECT_EQ(show(0), before) << "mapped back: the cached buffer again";
}
INSTANTIATE_TEST_SUITE_P(Pages, RemapTest, ::testing::Values(0, 2, kPages - 1));

TEST_F(ExporterTest, CursorQueryHasSignedPositionHotspotAndItsOwnId) {
  const uint32_t primary = show(0);
  wr(*v, hw::cursor::kCntr, 0x27 | kAsync);  // 64×64 ARGB
  wr(*v, hw::cursor::kPos, 1u << 31 | 3u << 16 | 1u << 15 | 10u);  // (-10, -3)
  wr(*v, hw::kPvinfoOffset + hw::pv::kCursorXHot, 5);
  wr(*v, hw::kPvinfoOffset + hw::pv::kCursorYHot, 6);
  wr(*v, hw::cursor::kBase, gm(4 * kPages).value());
  const Result r = query(kPlaneCursor);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->drm_format, hw::drm::kARGB8888);
  EXPECT_EQ(r->width, 64u);
  EXPECT_EQ(signed_pos(r->x_pos), -10);
  EXPECT_EQ(signed_pos(r->y_pos), -3);
  EXPECT_EQ(r->x_hot, 5u);
  EXPECT_EQ(r->y_hot, 6u);
  EXPECT_NE(r->dmabuf_id, primary);
  // Moving the cursor is not a new buffer; the reply carries the new position.
  wr(*v, hw::cursor::kPos, 20u << 16 | 30u);
  const Result moved = query(kPlaneCursor);
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->dmabuf_id, r->dmabuf_id);
  EXPECT_EQ(signed_pos(moved->x_pos), 30);
  EXPECT_EQ(signed_pos(moved->y_pos), 20);
}

TEST_F(ExporterTest, OverlayQueryDescribesTheSprite) {
  EXPECT_TRUE(query(kPlaneOverlay)) << "sprite off: a zeroed success";
  EXPECT_TRUE(no_plane(*query(kPlaneOverlay)));
  wr(*v, reg(2, hw::plane::kCtl), kOn | 4u << 24 | kAsync);
  wr(*v, reg(2, hw::plane::kStride), 32 * 4 / 64);
  wr(*v, reg(2, hw::plane::kSize), 15u << 16 | 31u);  // 32×16
  wr(*v, reg(2, hw::plane::kPos), 8u << 16 | 40u);
  wr(*v, reg(2, hw::plane::kSurf), gm(8 * kPages).value());
  const Result r = query(kPlaneOverlay);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->drm_plane_type, kPlaneOverlay);
  EXPECT_EQ(r->width, 32u);
  EXPECT_EQ(r->height, 16u);
  EXPECT_EQ(r->stride, 128u);
  EXPECT_EQ(signed_pos(r->x_pos), 40);
  EXPECT_EQ(signed_pos(r->y_pos), 8);
  EXPECT_GE(r->dmabuf_id, 1u);
}

// A consumer that fetches and releases every frame: each surface keeps its id, and a released
// buffer's number never goes to another plane (a cache keyed by id would show the wrong one).
TEST_F(ExporterTest, FetchReleaseCyclesKeepEveryIdAndGiveNoNumberTwice) {
  wr(*v, hw::cursor::kCntr, 0x27 | kAsync);  // a 64×64 ARGB cursor on surface 4
  wr(*v, hw::cursor::kBase, gm(4 * kPages).value());
  std::set<uint32_t> primaries, cursors;
  for (int frame = 0; frame < 50; ++frame) {
    const uint32_t p = show(frame % 2);
    const Result c = query(kPlaneCursor);
    ASSERT_TRUE(c) << c.error().message;
    for (uint32_t id : {p, c->dmabuf_id}) {
      ASSERT_TRUE(ex->get(kA, id)) << "frame " << frame;
      ASSERT_EQ(*ex->release(kA, id), 0u);
      EXPECT_TRUE(ex->contains(id)) << "released: idle, still known under its id";
    }
    EXPECT_NE(p, c->dmabuf_id) << "frame " << frame;
    primaries.insert(p);
    cursors.insert(c->dmabuf_id);
  }
  EXPECT_EQ(primaries.size(), 2u) << "the two surfaces, each under one id throughout";
  EXPECT_EQ(cursors.size(), 1u);
  EXPECT_EQ(ex->counters().misses, 3u);
}

TEST_F(ExporterTest, IdleBuffersStayUntilTheBoundThenGoLeastRecentlyUsedFirst) {
  make_exporter({.idle_capacity = 3});
  const uint32_t s0 = show(0), s1 = show(1), s2 = show(2), s3 = show(3);
  EXPECT_EQ(ex->counters().evictions, 0u) << "three idle, one pinned by the last query: all kept";
  show(0);  // s0 is the most recently used now
  const uint32_t s4 = show(4);
  EXPECT_FALSE(ex->contains(s1)) << "the least recently used goes first";
  EXPECT_TRUE(ex->contains(s0) && ex->contains(s2) && ex->contains(s3) && ex->contains(s4));
  EXPECT_EQ(ex->counters().evictions, 1u);
  const auto gone = ex->get(kA, s1);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::NoSuchBuffer);
  const uint32_t again = show(1);
  EXPECT_NE(again, s1) << "an evicted id is not given again";
  EXPECT_GT(again, s4) << "ids only grow";
}

// A guest that shows a new buffer every frame (here: a page of the plane remapped each time),
// against the smallest bound: ids keep growing, none comes back.
TEST_F(ExporterTest, EvictedIdsAreNeverReused) {
  make_exporter({.idle_capacity = 1});
  uint32_t last = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    map(gm(1), 1, 0x2000 + i);
    const uint32_t id = show(0);
    ASSERT_GT(id, last) << "frame " << i;
    last = id;
    ASSERT_TRUE(ex->get(kA, id));
    ASSERT_TRUE(ex->release(kA, id));
  }
  EXPECT_EQ(ex->counters().live, 1u);
  EXPECT_EQ(ex->counters().evictions, 199u);
}

TEST_F(ExporterTest, NumberingGoesOnAfterAReset) {
  const uint32_t before = show(1);
  ex->invalidate_all();
  EXPECT_FALSE(ex->contains(before));
  EXPECT_GT(show(1), before) << "the same surface after a reset: a new number, not the old one";
}

// After the last id of its range the numbering starts again at 1, skipping ids still known, and
// never enters the shadow frames' range.
TEST_F(ExporterTest, NumberingWrapsWithinItsRange) {
  make_exporter({.first_id = kBufferIds.last - 1});
  EXPECT_EQ(show(0), kBufferIds.last - 1);
  EXPECT_EQ(show(1), kBufferIds.last);
  EXPECT_EQ(show(2), 1u) << "wrapped, not into the shadow ids " << kShadowIds.first << " and up";
  EXPECT_TRUE(ex->contains(kBufferIds.last - 1) && ex->contains(kBufferIds.last));
}

TEST(IdSequence, WrapsAndSkipsIdsInUse) {
  IdSequence seq(IdRange{1, 5}, 4);
  const std::set<uint32_t> used = {5, 1};
  const auto in_use = [&](uint32_t id) { return used.contains(id); };
  EXPECT_EQ(seq.take(in_use), 4u);
  EXPECT_EQ(seq.take(in_use), 2u) << "5 and 1 are in use";
  EXPECT_EQ(seq.take(in_use), 3u);
  EXPECT_EQ(seq.take(in_use), 4u);
}

TEST_F(ExporterTest, ExportedBuffersAreNeverEvicted) {
  make_exporter({.idle_capacity = 2});
  const uint32_t held = show(0);
  auto b = ex->get(kA, held);
  ASSERT_TRUE(b);
  for (uint64_t s = 1; s < kSurfaces; ++s) show(s);
  EXPECT_TRUE(ex->contains(held));
  EXPECT_EQ(ex->counters().live, 4u) << "the exported buffer, the one just queried (pinned) and two idle ones";
  EXPECT_EQ(ex->counters().evictions, kSurfaces - 1 - 3);
  EXPECT_EQ(*ex->release(kA, held), 0u);
  EXPECT_TRUE(ex->contains(held)) << "released last: the most recently used idle buffer stays";
  EXPECT_EQ(ex->counters().live, 3u) << "the bound holds again: the pinned one and two idle";
}

TEST_F(ExporterTest, ExportsAreCountedAndReleasedOneByOne) {
  const uint32_t id = show(0);
  EXPECT_EQ(ex->exports_of(id), 0u);
  auto a = ex->get(kA, id), b = ex->get(kA, id);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(ex->exports_of(id), 2u);
  EXPECT_EQ(*ex->release(kA, id), 1u);
  EXPECT_EQ(*ex->release(kA, id), 0u);
  EXPECT_TRUE(ex->contains(id)) << "idle, still known";
  const auto again = ex->release(kA, id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::NoSuchBuffer);
  const auto never = ex->release(kA, show(1));  // known, but never exported
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().code, Errc::NoSuchBuffer);
  const auto c = ex->counters();
  EXPECT_EQ(c.exports, 2u);
  EXPECT_EQ(c.releases, 2u);
  EXPECT_EQ(c.refused, 2u);
}

// A query between get() and release() re-arms the initial reference: the id survives the last
// release, so the consumer can get() what it was just told about.
TEST_F(ExporterTest, QueryHitKeepsAnExportedIdAliveAfterRelease) {
  const uint32_t id = show(0);
  ASSERT_TRUE(ex->get(kA, id));
  EXPECT_EQ(show(0), id);
  EXPECT_EQ(*ex->release(kA, id), 0u);
  EXPECT_TRUE(ex->contains(id));
  EXPECT_TRUE(ex->get(kA, id));
}

// Consumer A is told about a buffer; B fetches and releases it, and shows the guest's other
// surfaces to itself until the LRU has dropped every idle buffer: A's get() still succeeds.
TEST_F(ExporterTest, AQueryPinsTheIdForThatConsumerWhateverOthersDo) {
  make_exporter({.idle_capacity = 1});
  for (uint64_t round = 0; round < 30; ++round) {
    const uint32_t x = show(round % kSurfaces, kA);
    ASSERT_TRUE(ex->get(kB, x));
    ASSERT_EQ(*ex->release(kB, x), 0u);
    for (uint64_t k = 1; k <= 3; ++k) show((round + k) % kSurfaces, kB);
    auto b = ex->get(kA, x);
    ASSERT_TRUE(b) << "round " << round << ": " << b.error().message;
    EXPECT_EQ(b->id, x);
    ASSERT_TRUE(ex->release(kA, x));
  }
}

TEST_F(ExporterTest, APinLastsUntilThatConsumersNextQueryOfThePlane) {
  make_exporter({.idle_capacity = 1});
  const uint32_t x = show(0, kA);
  show(1, kA);  // A moved on: x is idle now
  for (uint64_t k = 2; k < 5; ++k) show(k, kB);
  EXPECT_FALSE(ex->contains(x)) << "idle and least recently used: dropped under pressure";
  const uint32_t y = show(5, kA);
  wr(*v, hw::pipe::kConf, 0);  // the display goes off: A's next answer has no buffer
  ASSERT_TRUE(query(kPlanePrimary, kA));
  ASSERT_TRUE(no_plane(*query(kPlanePrimary, kA)));
  wr(*v, hw::pipe::kConf, kOn);
  for (uint64_t k = 6; k < 9; ++k) show(k, kB);
  EXPECT_FALSE(ex->contains(y)) << "a query answered without a buffer unpins too";
}

TEST_F(ExporterTest, ReferencesAreEachConsumersOwn) {
  const uint32_t id = show(0);
  ASSERT_TRUE(ex->get(kA, id));
  ASSERT_TRUE(ex->get(kB, id));
  const auto foreign = ex->release(kB, show(1));  // B holds nothing on that one
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, Errc::NoSuchBuffer);
  EXPECT_EQ(*ex->release(kB, id), 0u) << "B's own reference";
  const auto twice = ex->release(kB, id);
  ASSERT_FALSE(twice) << "B cannot return A's reference";
  EXPECT_EQ(ex->exports_of(id), 1u);
  ex->forget(kA);  // A disconnects
  EXPECT_EQ(ex->exports_of(id), 0u);
  EXPECT_FALSE(ex->release(kA, id)) << "forgotten: nothing left to release";
  EXPECT_TRUE(ex->contains(id)) << "the buffer stays known, idle";
}

TEST_F(ExporterTest, BufferDescribesThePlaneAndItsPagesInOrder) {
  map(gm(0), 4, 0x900);  // pages 0, 1 contiguous; then 0x400 and 0x401 elsewhere, and so on
  map(gm(2), 1, 0x400);
  map(gm(3), 1, 0x300);
  auto b = ex->get(kA, show(0));
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->size, kPages * kPageSize);
  EXPECT_EQ(b->fourcc, hw::drm::kXRGB8888);
  EXPECT_EQ(b->modifier, hw::drm::kModLinear);
  EXPECT_EQ(b->width, kW);
  EXPECT_EQ(b->height, kH);
  EXPECT_EQ(b->stride, kW * 4);
  const std::vector<Extent> want = {{0x900 * kPageSize, 2 * kPageSize}, {0x400 * kPageSize, kPageSize},
                                    {0x300 * kPageSize, kPageSize}};
  EXPECT_EQ(b->extents, want);
}

TEST_F(ExporterTest, DescriptorIsReadOnlyAndShowsGuestWritesLive) {
  auto b = ex->get(kA, show(0));
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(::fcntl(b->fd.get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_TRUE(::fcntl(b->fd.get(), F_GETFD) & FD_CLOEXEC);
  const Extent e = b->extents.at(0);
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, e.length, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd.get(), static_cast<off_t>(e.offset)),
            MAP_FAILED);
  EXPECT_EQ(errno, EACCES) << "a consumer must not be able to write guest memory";
  const char byte = 1;
  EXPECT_EQ(::pwrite(b->fd.get(), &byte, 1, static_cast<off_t>(e.offset)), -1);
  void* m = ::mmap(nullptr, e.length, PROT_READ, MAP_SHARED, b->fd.get(), static_cast<off_t>(e.offset));
  ASSERT_NE(m, MAP_FAILED) << std::strerror(errno);
  EXPECT_EQ(::mprotect(m, e.length, PROT_READ | PROT_WRITE), -1);
  EXPECT_EQ(errno, EACCES);
  frame(kFrame0)[100] = std::byte{0x5A};  // the guest draws after the consumer mapped
  EXPECT_EQ(static_cast<const std::byte*>(m)[100], std::byte{0x5A});
  ::munmap(m, e.length);
}

// vGPU destroyed, every shared_ptr to its RAM dropped: the consumer's descriptor still maps the
// pixels the guest drew. (Run under ASan too: nothing may touch freed host memory.)
TEST_F(ExporterTest, HandedOutBufferOutlivesTheVgpuAndItsRam) {
  for (uint64_t p = 0; p < kPages; ++p) std::memset(frame(kFrame0 + p).data(), 0x40 + static_cast<int>(p), kPageSize);
  const uint32_t id = show(0);
  auto b = ex->get(kA, id);
  ASSERT_TRUE(b) << b.error().message;
  const std::weak_ptr<const GuestRam> ram = v->ram_ref();
  const uint64_t gen = ex->generation();
  ASSERT_TRUE(gpu->destroy_vgpu(v->id()));
  v = nullptr;
  EXPECT_TRUE(ram.expired()) << "nothing but the handed-out descriptor may keep the VM's RAM";
  const auto late = ex->get(kA, id);  // before invalidate_all: the RAM is gone, no descriptor to make
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::NoSuchBuffer);
  ex->invalidate_all();
  EXPECT_NE(ex->generation(), gen);
  EXPECT_FALSE(ex->contains(id));
  EXPECT_EQ(ex->release(kA, id).error().code, Errc::NoSuchBuffer);
  EXPECT_EQ(ex->counters().live, 0u);
  ex.reset();

  uint64_t at = 0;
  for (const Extent& e : b->extents) {
    void* m = ::mmap(nullptr, e.length, PROT_READ, MAP_SHARED, b->fd.get(), static_cast<off_t>(e.offset));
    ASSERT_NE(m, MAP_FAILED) << std::strerror(errno);
    for (uint64_t k = 0; k < e.length; k += 512)
      ASSERT_EQ(static_cast<const uint8_t*>(m)[k], 0x40 + (at + k) / kPageSize) << "byte " << at + k;
    ::munmap(m, e.length);
    at += e.length;
  }
  EXPECT_EQ(at, kPages * kPageSize);
}

TEST_F(ExporterTest, IdsArePerVgpu) {
  Vgpu& other = create();
  Exporter theirs(other.ram_ref());
  show(0);
  const uint32_t mine = show(1);
  EXPECT_EQ(mine, 2u);
  EXPECT_FALSE(theirs.get(kA, mine)) << "another vGPU's id means nothing here";
}

TEST_F(ExporterTest, WithoutUdmabufTheBufferHasNoDmabufAndSaysSo) {
  make_exporter({.udmabuf_path = "/nonexistent/udmabuf"});
  EXPECT_FALSE(ex->dmabuf_available());
  auto b = ex->get(kA, show(0));
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->dmabuf.valid());
  EXPECT_TRUE(b->fd.valid()) << "the memfd export works without udmabuf";
  EXPECT_EQ(ex->counters().dmabuf_failures, 1u);
  make_exporter({.udmabuf = false});
  ASSERT_TRUE(ex->get(kA, show(0)));
  EXPECT_EQ(ex->counters().dmabuf_failures, 0u) << "not asked for, not a failure";
}

TEST_F(ExporterTest, UdmabufIsADmabufOfThePlanePagesInOrder) {
  if (!std::filesystem::exists("/dev/udmabuf")) GTEST_SKIP() << "/dev/udmabuf does not exist on this host";
  if (!ex->dmabuf_available()) GTEST_SKIP() << "/dev/udmabuf exists but cannot be opened read-write";
  map(gm(0), 2, 0x700);  // two runs: the dma-buf must gather them in plane order
  for (uint64_t p = 0; p < kPages; ++p) {
    const uint64_t f = p < 2 ? 0x700 + p : kFrame0 + p;
    std::memset(frame(f).data(), 0x10 + static_cast<int>(p), kPageSize);
  }
  auto b = ex->get(kA, show(0));
  ASSERT_TRUE(b) << b.error().message;
  ASSERT_TRUE(b->dmabuf.valid()) << "udmabuf refused the extents";
  EXPECT_EQ(ex->counters().dmabufs, 1u);
  void* m = ::mmap(nullptr, kPages * kPageSize, PROT_READ, MAP_SHARED, b->dmabuf.get(), 0);
  ASSERT_NE(m, MAP_FAILED) << std::strerror(errno);
  for (uint64_t p = 0; p < kPages; ++p) EXPECT_EQ(static_cast<const uint8_t*>(m)[p * kPageSize + 7], 0x10 + p);
  frame(kFrame0 + 3)[9] = std::byte{0xEE};
  EXPECT_EQ(static_cast<const uint8_t*>(m)[3 * kPageSize + 9], 0xEE) << "zero copy: guest writes show";
  ::munmap(m, kPages * kPageSize);
}

TEST(Coalesce, MergesOnlyAscendingNeighbours) {
  const auto pg = [](uint64_t f) { return MemfdOffset::from_page(f); };
  EXPECT_TRUE(coalesce({}).empty());
  const std::vector<Extent> want = {{5 * kPageSize, 3 * kPageSize}, {4 * kPageSize, kPageSize},
                                    {4 * kPageSize, 2 * kPageSize}};
  EXPECT_EQ(coalesce({pg(5), pg(6), pg(7), pg(4), pg(4), pg(5)}), want);
}

}  // namespace
}  // namespace vgd::exporter
