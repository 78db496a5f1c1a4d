// Address-space ballooning (docs/hardware.md, Ballooning): the pure hole computation and the guest
// driver's balloon on real vGPUs. Expected holes are worked out by hand from the documented rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ostream>
#include <vector>

#include "guest/balloon.h"
#include "guest/driver.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd {
namespace guest {
// Readable failure messages for driver results.
static void PrintTo(Error e, std::ostream* os) { *os << describe(e); }
}  // namespace guest
namespace {

using guest::BalloonPlan;
using guest::Error;
using guest::GgttGeometry;
using guest::PvResources;

constexpr uint64_t M = 1ull << 20;
constexpr GmRange mib(uint64_t begin, uint64_t end) { return GmRange{Gma(begin * M), (end - begin) * M}; }
constexpr GmRange bytes(uint64_t begin, uint64_t end) { return GmRange{Gma(begin), end - begin}; }
constexpr GmRange kEmpty{};

PvResources slices(GmRange mappable, GmRange nonmappable) {
  PvResources r;
  r.mappable = mappable;
  r.nonmappable = nonmappable;
  r.fence_num = 4;
  return r;
}

// ---------------------------------------------------------------------------------------------
// plan_balloon: valid layouts.

struct Layout {
  const char* name;
  GgttGeometry geo;
  GmRange mappable, nonmappable;
  std::array<GmRange, 4> holes;  // slots 0..3 as numbered in hardware.md
};

const Layout kLayouts[] = {
    {"SlicesAtApertureStartAndGgttEnd", {4096 * M, 512 * M}, mib(0, 64), mib(3712, 4096),
     {kEmpty, mib(64, 512), mib(512, 3712), kEmpty}},
    {"SlicesAtApertureEndAndHiddenBottom", {4096 * M, 512 * M}, mib(448, 512), mib(512, 896),
     {mib(0, 448), kEmpty, kEmpty, mib(896, 4096)}},
    {"SlicesInTheMiddle", {4096 * M, 512 * M}, mib(128, 192), mib(1024, 1408),
     {mib(0, 128), mib(192, 512), mib(512, 1024), mib(1408, 4096)}},
    {"Aperture256HiddenAtTop", {4096 * M, 256 * M}, mib(128, 192), mib(3712, 4096),
     {mib(0, 128), mib(192, 256), mib(256, 3712), kEmpty}},
    {"Aperture1024V5_1", {4096 * M, 1024 * M}, mib(512, 1024), mib(2048, 4096),
     {mib(0, 512), kEmpty, mib(1024, 2048), kEmpty}},
    {"SlicesCoverEverything", {4096 * M, 512 * M}, mib(0, 512), mib(512, 4096), {kEmpty, kEmpty, kEmpty, kEmpty}},
    {"SinglePagesInSmallGgtt", {2048 * M, 256 * M}, bytes(0x1000, 0x2000), bytes(0x7FFFF000, 0x80000000),
     {bytes(0, 0x1000), bytes(0x2000, 0x10000000), bytes(0x10000000, 0x7FFFF000), kEmpty}},
};

class BalloonLayout : public ::testing::TestWithParam<Layout> {};

TEST_P(BalloonLayout, HolesMatchTheReferenceRules) {
  const Layout& l = GetParam();
  BalloonPlan plan;
  ASSERT_EQ(guest::plan_balloon(slices(l.mappable, l.nonmappable), l.geo, plan), Error::None);
  uint64_t expected_reserved = 0;
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(testing::Message() << "hole " << i);
    expected_reserved += l.holes[i].size;
    if (l.holes[i].size == 0) {
      EXPECT_EQ(plan.holes[i].size, 0u) << "begin " << std::hex << plan.holes[i].begin.value();
    } else {
      EXPECT_EQ(plan.holes[i].begin.value(), l.holes[i].begin.value());
      EXPECT_EQ(plan.holes[i].size, l.holes[i].size);
    }
  }
  EXPECT_EQ(plan.reserved_bytes(), expected_reserved);
}

// Holes and slices tile the GGTT exactly: the guest can allocate nowhere but its slices.
TEST_P(BalloonLayout, HolesPlusSlicesTileTheWholeGgtt) {
  const Layout& l = GetParam();
  BalloonPlan plan;
  ASSERT_EQ(guest::plan_balloon(slices(l.mappable, l.nonmappable), l.geo, plan), Error::None);
  std::vector<GmRange> parts = {l.mappable, l.nonmappable};
  for (const GmRange& h : plan.holes)
    if (h.size) parts.push_back(h);
  std::sort(parts.begin(), parts.end(), [](const GmRange& a, const GmRange& b) { return a.begin < b.begin; });
  Gma cursor(0);
  for (const GmRange& p : parts) {
    EXPECT_EQ(p.begin.value(), cursor.value()) << "gap or overlap";
    cursor = p.end();
  }
  EXPECT_EQ(cursor.value(), l.geo.total);
  EXPECT_EQ(plan.reserved_bytes() + l.mappable.size + l.nonmappable.size, l.geo.total);
}

INSTANTIATE_TEST_SUITE_P(Layouts, BalloonLayout, ::testing::ValuesIn(kLayouts),
                         [](const auto& p) { return std::string(p.param.name); });

// ---------------------------------------------------------------------------------------------
// plan_balloon: inconsistent PVINFO is rejected (Ballooning step 1).

struct BadLayout {
  const char* name;
  GgttGeometry geo;
  GmRange mappable, nonmappable;
};

const BadLayout kBadLayouts[] = {
    {"MappableEndBeyondAperture", {4096 * M, 512 * M}, mib(480, 544), mib(3712, 4096)},
    {"MappableEndOnePagePastAperture", {4096 * M, 512 * M}, bytes(448 * M, 512 * M + 0x1000), mib(3712, 4096)},
    {"NonmappableBaseBelowApertureEnd", {4096 * M, 512 * M}, mib(128, 192), mib(508, 892)},
    {"NonmappableInsideAperture", {4096 * M, 512 * M}, mib(128, 192), mib(256, 320)},
    {"NonmappableEndBeyondGgtt", {2048 * M, 256 * M}, mib(128, 192), mib(1800, 2100)},
    {"NonmappableEndOnePagePastGgtt", {4096 * M, 512 * M}, mib(128, 192), bytes(3712 * M, 4096 * M + 0x1000)},
};

class BalloonRejects : public ::testing::TestWithParam<BadLayout> {};

TEST_P(BalloonRejects, InvalidConfiguration) {
  const BadLayout& l = GetParam();
  BalloonPlan plan;
  EXPECT_EQ(guest::plan_balloon(slices(l.mappable, l.nonmappable), l.geo, plan), Error::InvalidBalloon);
}

INSTANTIATE_TEST_SUITE_P(Invalid, BalloonRejects, ::testing::ValuesIn(kBadLayouts),
                         [](const auto& p) { return std::string(p.param.name); });

// A driver whose PVINFO lies about its slices must refuse to balloon and stay unable to allocate.
class LyingPvinfo final : public guest::MmioPort {
 public:
  LyingPvinfo() {
    put(hw::pv::kMagic, 8, hw::kPvinfoMagic);
    put(hw::pv::kVersionMajor, 2, 1);
    put(hw::pv::kMappableBase, 4, 480 * M);  // ends at 544 MiB, beyond the 512 MiB aperture
    put(hw::pv::kMappableSize, 4, 64 * M);
    put(hw::pv::kNonmappableBase, 4, 3712 * M);
    put(hw::pv::kNonmappableSize, 4, 384 * M);
  }
  uint64_t read(MmioOffset off, unsigned size) override {
    uint64_t v = 0;
    if (off.value() >= hw::kPvinfoOffset && off.value() + size <= hw::kPvinfoOffset + hw::kPvinfoSize)
      std::memcpy(&v, page_.data() + (off.value() - hw::kPvinfoOffset), size);
    return v;
  }
  void write(MmioOffset, unsigned, uint64_t) override {}

 private:
  void put(uint64_t rel, unsigned size, uint64_t v) { std::memcpy(page_.data() + rel, &v, size); }
  std::array<std::byte, hw::kPvinfoSize> page_{};
};

TEST(BalloonPvinfo, RejectsInconsistentPvinfo) {
  LyingPvinfo mmio;
  auto ram = test::make_ram(8 * M);
  InProcessRam ram_port(*ram);
  guest::Driver drv(mmio, ram_port, guest::Platform{4096 * M, 512 * M, GpaRange{Gpa(M), 7 * M}});
  ASSERT_EQ(drv.probe(), Error::None);
  EXPECT_EQ(drv.balloon(), Error::InvalidBalloon);
  EXPECT_EQ(drv.state(), guest::State::Detected);
  EXPECT_EQ(drv.gm_reserved_bytes(), 0u);
  guest::Buffer b;
  EXPECT_EQ(drv.alloc_buffer(4096, guest::Placement::Aperture, b), Error::NotBallooned);
}

// ---------------------------------------------------------------------------------------------
// Driver::balloon end to end on real vGPUs.

struct TypeCase {
  const char* type;
  uint64_t aperture_mib, low_mib, high_mib;
  uint64_t reserved_mib;  // 4096 - low - high
};

const TypeCase kTypes[] = {
    {"GVTg_V5_8", 512, 64, 384, 3648},   {"GVTg_V5_4", 512, 128, 512, 3456},
    {"GVTg_V5_2", 512, 256, 1024, 2816}, {"GVTg_V5_4", 256, 128, 512, 3456},
    {"GVTg_V5_1", 1024, 512, 2048, 1536},
};

class BalloonOnVgpu : public test::GpuTest, public ::testing::WithParamInterface<TypeCase> {
 protected:
  void SetUp() override {
    GpuConfig cfg;
    cfg.geometry.aperture_size = GetParam().aperture_mib * M;
    init(cfg);
  }
  // Enough RAM to back the larger slice completely (RAM is sparse until touched).
  uint64_t ram_size() const { return std::max(GetParam().low_mib, GetParam().high_mib) * M + M; }
};

TEST_P(BalloonOnVgpu, ReservesEverythingButOwnSlices) {
  Vgpu& v = create(GetParam().type, ram_size());
  InProcessGuest g(v, gpu->geometry());
  guest::Driver& drv = g.driver();
  ASSERT_EQ(drv.probe(), Error::None);
  ASSERT_EQ(drv.balloon(), Error::None);
  EXPECT_EQ(drv.state(), guest::State::Ballooned);
  EXPECT_EQ(drv.gm_reserved_bytes(), GetParam().reserved_mib * M);
  EXPECT_EQ(drv.resources().mappable.size, GetParam().low_mib * M);
  EXPECT_EQ(drv.resources().nonmappable.size, GetParam().high_mib * M);
  drv.deballoon();
  EXPECT_EQ(drv.gm_reserved_bytes(), 0u);
}

// Quarter-slice buffers: exactly four fit, each inside the right slice, then the slice is full.
TEST_P(BalloonOnVgpu, AllocationsStayInsideOwnSlicesUntilExhausted) {
  Vgpu& v = create(GetParam().type, ram_size());
  InProcessGuest g(v, gpu->geometry());
  guest::Driver& drv = g.driver();
  ASSERT_EQ(drv.probe(), Error::None);
  ASSERT_EQ(drv.balloon(), Error::None);

  const std::pair<guest::Placement, GmRange> cases[] = {{guest::Placement::Aperture, v.resources().aperture},
                                                        {guest::Placement::Hidden, v.resources().hidden}};
  for (const auto& [where, slice] : cases) {
    SCOPED_TRACE(where == guest::Placement::Aperture ? "aperture" : "hidden");
    std::vector<guest::Buffer> bufs;
    guest::Buffer b;
    while (bufs.size() < 8 && drv.alloc_buffer(slice.size / 4, where, b) == Error::None) {
      EXPECT_TRUE(slice.contains(b.gm, b.size)) << std::hex << b.gm.value() << "+" << b.size;
      bufs.push_back(b);
    }
    EXPECT_EQ(bufs.size(), 4u);
    EXPECT_EQ(drv.alloc_buffer(kPageSize, where, b), Error::NoGmSpace);
    for (const guest::Buffer& x : bufs) EXPECT_EQ(drv.free_buffer(x), Error::None);
  }
  // A ballooned guest never provokes the host: no dropped or scratch-mapped entry.
  EXPECT_EQ(v.counters().refused(), 0u);
  EXPECT_EQ(v.mmio_stats().refused(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Types, BalloonOnVgpu, ::testing::ValuesIn(kTypes), [](const auto& p) {
  return std::string(p.param.type) + "_aperture" + std::to_string(p.param.aperture_mib);
});

using BalloonDriver = test::GpuTest;

TEST_F(BalloonDriver, BalloonBeforeProbeIsRefused) {
  Vgpu& v = create();
  InProcessGuest g(v, gpu->geometry());
  guest::Driver& drv = g.driver();
  EXPECT_EQ(drv.balloon(), Error::NotDetected);
  EXPECT_EQ(drv.state(), guest::State::Fresh);
  EXPECT_EQ(drv.gm_reserved_bytes(), 0u);
  guest::Buffer b;
  EXPECT_EQ(drv.alloc_buffer(kPageSize, guest::Placement::Aperture, b), Error::NotBallooned);
}

// Every vGPU the host agrees to create must be one its guest can balloon: a type without hidden GM
// is accepted, and its empty hidden slice (placed at the aperture's end) passes Ballooning step 1.
TEST(BalloonDriverCustomType, TypeWithoutHiddenGmIsBallooned) {
  GpuConfig cfg;
  cfg.types.push_back(VgpuType{"NoHidden", {32 * M, 0, 2}, 2, 1024, 768});
  auto g = Gpu::create(cfg);
  ASSERT_TRUE(g.has_value()) << g.error();
  auto v = (*g)->create_vgpu("NoHidden", test::make_ram(64 * M));
  ASSERT_TRUE(v.has_value()) << v.error().message;
  InProcessMmio mmio(**v);
  InProcessRam ram((*v)->ram());
  guest::Driver drv(mmio, ram, platform_for(**v, 4096 * M, 512 * M));
  ASSERT_EQ(drv.probe(), Error::None);
  ASSERT_EQ(drv.balloon(), Error::None) << "PVINFO hidden slice: base " << std::hex
                                         << drv.resources().nonmappable.begin.value() << " size "
                                         << drv.resources().nonmappable.size;
  EXPECT_EQ(drv.gm_reserved_bytes(), (4096 - 32) * M);
  guest::Buffer b;
  EXPECT_EQ(drv.alloc_buffer(kPageSize, guest::Placement::Aperture, b), Error::None);
  EXPECT_EQ(drv.alloc_buffer(kPageSize, guest::Placement::Hidden, b), Error::NoGmSpace);
}

}  // namespace
}  // namespace vgd
