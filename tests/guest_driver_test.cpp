// The guest driver model against real vGPUs (and a fake device for detection failures):
// detection, GGTT binding, fences, display_ready, isolation (docs/hardware.md).
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <memory>
#include <ostream>
#include <set>
#include <variant>

#include "guest/driver.h"
#include "sim/demo.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd {
namespace guest {
// Readable failure messages for driver results.
static void PrintTo(Error e, std::ostream* os) { *os << describe(e); }
}  // namespace guest
namespace {

using guest::Error;
using guest::Placement;
constexpr uint64_t M = 1ull << 20;

using Guest = InProcessGuest;

class GuestDriverTest : public test::GpuTest {
 protected:
  std::unique_ptr<Guest> guest_on(Vgpu& v) { return std::make_unique<Guest>(v, gpu->geometry()); }
  std::unique_ptr<Guest> ballooned(const std::string& type = "GVTg_V5_8") {
    auto g = guest_on(create(type));
    EXPECT_EQ(g->driver().probe(), Error::None);
    EXPECT_EQ(g->driver().balloon(), Error::None);
    return g;
  }
};

// Distinct content per page and per guest, so a wrong page or a wrong guest shows.
uint8_t pattern(uint64_t page, uint64_t byte, uint8_t seed) {
  return static_cast<uint8_t>((page * 131 + byte * 7 + seed) & 0xFF);
}
void fill(Guest& g, const guest::Buffer& b, uint8_t seed) {
  for (uint64_t p = 0; p < b.size / kPageSize; ++p) {
    std::byte* dst = g.driver().ram().at(b.gpa + p * kPageSize, kPageSize);
    ASSERT_NE(dst, nullptr);
    for (uint64_t i = 0; i < kPageSize; ++i) dst[i] = std::byte{pattern(p, i, seed)};
  }
}
// Follows the host's GGTT translation of every page and checks the bytes it lands on.
void expect_host_sees(const Vgpu& v, const guest::Buffer& b, uint8_t seed) {
  for (uint64_t p = 0; p < b.size / kPageSize; ++p) {
    const Gma gm = b.gm + p * kPageSize;
    auto hp = v.ggtt().translate(gm);
    ASSERT_TRUE(hp.has_value()) << "page " << p << " not in the vGPU's slices";
    ASSERT_FALSE(hp->scratch) << "page " << p << " maps scratch";
    EXPECT_EQ(v.ggtt().guest_gpa(gm), b.gpa + p * kPageSize);
    auto host = v.ram().host_bytes(hp->offset, kPageSize);
    for (uint64_t i = 0; i < kPageSize; i += 509)  // sample, including both ends
      ASSERT_EQ(host[i], std::byte{pattern(p, i, seed)}) << "page " << p << " byte " << i;
    ASSERT_EQ(host[kPageSize - 1], std::byte{pattern(p, kPageSize - 1, seed)});
  }
}

// ---------------------------------------------------------------------------------------------
// Detection.

TEST_F(GuestDriverTest, ProbeLearnsExactlyItsOwnVgpu) {
  create("GVTg_V5_8");  // a neighbour, so the probed vGPU is not id 1 at the bottom
  auto g = guest_on(create("GVTg_V5_4"));
  ASSERT_EQ(g->driver().probe(), Error::None);
  EXPECT_EQ(g->driver().state(), guest::State::Detected);
  const guest::PvResources& r = g->driver().resources();
  EXPECT_EQ(r.vgt_id, 2u);
  EXPECT_EQ(r.vgt_id, g->vgpu().id());
  EXPECT_EQ(r.caps, 0x1001Cu);  // FULL_PPGTT | HWSP_EMULATION | HUGE_GTT | damage hints
  EXPECT_EQ(r.mappable, g->vgpu().resources().aperture);
  EXPECT_EQ(r.nonmappable, g->vgpu().resources().hidden);
  EXPECT_EQ(r.mappable.size, 128 * M);
  EXPECT_EQ(r.nonmappable.size, 512 * M);
  EXPECT_EQ(r.fence_num, 4u);
}

// A device that answers PVINFO reads from a page we control, and counts writes.
class FakeDevice final : public guest::MmioPort {
 public:
  FakeDevice(uint64_t magic, uint16_t major) {
    std::memcpy(page_.data() + hw::pv::kMagic, &magic, 8);
    std::memcpy(page_.data() + hw::pv::kVersionMajor, &major, 2);
  }
  uint64_t read(MmioOffset off, unsigned size) override {
    uint64_t v = 0;
    const uint64_t o = off.value();
    if (o >= hw::kPvinfoOffset && o + size <= hw::kPvinfoOffset + hw::kPvinfoSize)
      std::memcpy(&v, page_.data() + (o - hw::kPvinfoOffset), size);
    return v;
  }
  void write(MmioOffset, unsigned, uint64_t) override { ++writes; }
  int writes = 0;

 private:
  std::array<std::byte, hw::kPvinfoSize> page_{};
};

struct ProbeCase {
  const char* name;
  uint64_t magic;
  uint16_t major;
  Error expected;
};
const ProbeCase kProbeCases[] = {
    {"NoMagic", 0, 1, Error::NotVgpu},
    {"MagicOffByOneByte", 0x4876544776544776, 1, Error::NotVgpu},  // "vGTvGTvH"
    {"AllOnes", ~0ull, 0xFFFF, Error::NotVgpu},
    {"MajorVersionZero", 0x4776544776544776, 0, Error::VersionMismatch},
};

class ProbeFailure : public ::testing::TestWithParam<ProbeCase> {};

TEST_P(ProbeFailure, LeavesTheDriverUndetectedAndSilent) {
  FakeDevice dev(GetParam().magic, GetParam().major);
  auto ram = test::make_ram(8 * M);
  InProcessRam ram_port(*ram);
  guest::Driver drv(dev, ram_port, guest::Platform{4096 * M, 512 * M, GpaRange{Gpa(M), 7 * M}});
  EXPECT_EQ(drv.probe(), GetParam().expected);
  EXPECT_EQ(drv.state(), guest::State::Fresh);
  EXPECT_EQ(drv.balloon(), Error::NotDetected);
  EXPECT_EQ(drv.set_fence(0, 1), Error::NotDetected);
  EXPECT_EQ(drv.set_display_ready(true), Error::NotDetected);
  EXPECT_EQ(dev.writes, 0) << "an undetected driver must not poke the device";
}

INSTANTIATE_TEST_SUITE_P(Probe, ProbeFailure, ::testing::ValuesIn(kProbeCases),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(ProbeSuccess, FakeDeviceWithMagicAndVersionOneIsDetected) {
  FakeDevice dev(0x4776544776544776, 1);
  auto ram = test::make_ram(8 * M);
  InProcessRam ram_port(*ram);
  guest::Driver drv(dev, ram_port, guest::Platform{4096 * M, 512 * M, GpaRange{Gpa(M), 7 * M}});
  EXPECT_EQ(drv.probe(), Error::None);
  EXPECT_EQ(drv.state(), guest::State::Detected);
}

// ---------------------------------------------------------------------------------------------
// GGTT binding: what the host sees through its translation is what the guest wrote.

class BufferBinding : public GuestDriverTest, public ::testing::WithParamInterface<Placement> {};

TEST_P(BufferBinding, EveryPageTranslatesToItsBackingRam) {
  auto g = ballooned();
  guest::Buffer fb;
  ASSERT_EQ(g->driver().alloc_buffer(1024 * 768 * 4, GetParam(), fb), Error::None);
  EXPECT_EQ(fb.size, 3 * M);
  fill(*g, fb, 0x5A);
  expect_host_sees(g->vgpu(), fb, 0x5A);
  EXPECT_EQ(g->vgpu().counters().pte_writes, 768u);
  EXPECT_EQ(g->vgpu().counters().refused(), 0u);
}

TEST_P(BufferBinding, FreeTurnsEveryEntryBackToScratch) {
  auto g = ballooned();
  guest::Buffer b;
  ASSERT_EQ(g->driver().alloc_buffer(16 * kPageSize + 1, GetParam(), b), Error::None);
  ASSERT_EQ(b.size, 17 * kPageSize);  // rounded up to whole pages
  ASSERT_EQ(g->driver().free_buffer(b), Error::None);
  for (uint64_t p = 0; p < 17; ++p) {
    auto hp = g->vgpu().ggtt().translate(b.gm + p * kPageSize);
    ASSERT_TRUE(hp.has_value());
    EXPECT_TRUE(hp->scratch) << "page " << p;
    EXPECT_FALSE(g->vgpu().ggtt().guest_gpa(b.gm + p * kPageSize).has_value());
  }
  EXPECT_EQ(g->driver().free_buffer(b), Error::BadArgument) << "double free";
}

INSTANTIATE_TEST_SUITE_P(Placements, BufferBinding, ::testing::Values(Placement::Aperture, Placement::Hidden),
                         [](const auto& p) { return p.param == Placement::Aperture ? "Aperture" : "Hidden"; });

// ---------------------------------------------------------------------------------------------
// Fences and display_ready.

TEST_F(GuestDriverTest, FencesLandInTheHostRegistersAllocatedToTheVgpu) {
  auto g = ballooned();
  // The host keeps fences 0..3, so the first vGPU gets 4..7.
  ASSERT_EQ(g->vgpu().resources().fences, (std::vector<uint32_t>{4, 5, 6, 7}));
  for (uint32_t i = 0; i < 4; ++i) {
    const uint64_t value = 0x1234'0000'0000'0001ull + (uint64_t{i} << 12);
    ASSERT_EQ(g->driver().set_fence(i, value), Error::None);
    EXPECT_EQ(gpu->host_fence(4 + i), value) << "guest fence " << i;
  }
  const auto writes_before = g->vgpu().mmio_stats().writes[static_cast<size_t>(hw::RegBlock::Fence)];
  for (uint32_t bad : {4u, 5u, 31u, 32u, 0xFFFFFFFFu}) EXPECT_EQ(g->driver().set_fence(bad, 0xdead), Error::FenceNotOwned);
  // Refused in the guest: no trap, and no host register touched.
  EXPECT_EQ(g->vgpu().mmio_stats().writes[static_cast<size_t>(hw::RegBlock::Fence)], writes_before);
  EXPECT_EQ(g->vgpu().counters().attacks[GuestAttack::FenceOutOfRange], 0u);
  for (uint32_t h : {0u, 1u, 2u, 3u, 8u, 9u, 31u}) EXPECT_EQ(gpu->host_fence(h), 0u) << "host fence " << h;
}

TEST_F(GuestDriverTest, DisplayReadyRaisesAnEventForThisVgpu) {
  create();
  auto g = guest_on(create());
  EXPECT_EQ(g->driver().set_display_ready(true), Error::NotDetected);
  EXPECT_TRUE(events.empty());
  ASSERT_EQ(g->driver().probe(), Error::None);
  ASSERT_EQ(g->driver().set_display_ready(true), Error::None);
  EXPECT_EQ(g->vgpu().display_ready(), 1u);
  ASSERT_EQ(g->driver().set_display_ready(false), Error::None);
  EXPECT_EQ(g->vgpu().display_ready(), 0u);
  ASSERT_EQ(events.size(), 2u);
  for (uint32_t i = 0; i < 2; ++i) {
    const auto* e = std::get_if<DisplayReadyEvent>(&events[i]);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->vgpu, 2u);
    EXPECT_EQ(e->ready, i == 0 ? 1u : 0u);
  }
}

// ---------------------------------------------------------------------------------------------
// Isolation between two guests.

TEST_F(GuestDriverTest, TwoGuestsNeverSeeEachOthersPages) {
  auto a = ballooned();
  auto b = ballooned();
  guest::Buffer ba, bb;
  ASSERT_EQ(a->driver().alloc_buffer(64 * kPageSize, Placement::Aperture, ba), Error::None);
  ASSERT_EQ(b->driver().alloc_buffer(64 * kPageSize, Placement::Aperture, bb), Error::None);
  // Same guest-physical address in both VMs, different memory.
  EXPECT_EQ(ba.gpa, bb.gpa);
  EXPECT_FALSE((GmRange{ba.gm, ba.size}.overlaps(GmRange{bb.gm, bb.size})));
  fill(*a, ba, 0x11);
  fill(*b, bb, 0xEE);
  expect_host_sees(a->vgpu(), ba, 0x11);
  expect_host_sees(b->vgpu(), bb, 0xEE);
  for (uint64_t p = 0; p < 64; ++p) {
    EXPECT_FALSE(a->vgpu().ggtt().translate(bb.gm + p * kPageSize).has_value());
    EXPECT_FALSE(b->vgpu().ggtt().translate(ba.gm + p * kPageSize).has_value());
  }
  // Nor does either see the other's slices through a GTT read.
  EXPECT_EQ(a->mmio().read(hw::gtt_entry_offset(bb.gm.page()), 8), 0u);
  EXPECT_NE(b->mmio().read(hw::gtt_entry_offset(bb.gm.page()), 8), 0u);
}

// ---------------------------------------------------------------------------------------------
// The partition demo: four guests side by side.

TEST_F(GuestDriverTest, PartitionDemoWithFourVgpus) {
  DemoOptions opt;
  opt.vgpus = 4;
  auto rows = run_partition_demo(*gpu, opt);
  ASSERT_TRUE(rows) << rows.error();
  ASSERT_EQ(rows->size(), 4u);
  // Host reservations: low [0, 128 MiB) and high [512, 896 MiB) on the default GPU.
  std::vector<GmRange> taken = {GmRange{Gma(0), 128 * M}, GmRange{Gma(512 * M), 384 * M}};
  std::set<uint32_t> fences;
  for (const DemoRow& r : *rows) {
    SCOPED_TRACE(testing::Message() << "vGPU " << r.vgpu);
    EXPECT_EQ(r.guest_result, Error::None) << r.guest_state();
    EXPECT_TRUE(r.display_ready);
    EXPECT_FALSE(r.failsafe);
    EXPECT_EQ(r.refused, 0u);
    EXPECT_EQ(r.aperture.size, 64 * M);
    EXPECT_EQ(r.hidden.size, 384 * M);
    EXPECT_EQ(r.balloon_reserved, 3648 * M);  // 4096 - 64 - 384
    EXPECT_TRUE(r.aperture.contains(r.framebuffer.begin, r.framebuffer.size));
    EXPECT_EQ(r.framebuffer.size, 3 * M);  // 1024x768, 4 bytes per pixel
    for (const GmRange& t : taken) {
      EXPECT_FALSE(r.aperture.overlaps(t));
      EXPECT_FALSE(r.hidden.overlaps(t));
    }
    taken.push_back(r.aperture);
    taken.push_back(r.hidden);
    for (uint32_t f : r.host_fences) {
      EXPECT_GE(f, 4u) << "host fence";
      EXPECT_TRUE(fences.insert(f).second) << "fence " << f << " shared";
    }
  }
  EXPECT_EQ(fences.size(), 16u);
  size_t ready = 0;
  for (const MgmtEvent& e : events)
    if (const auto* d = std::get_if<DisplayReadyEvent>(&e); d && d->ready == 1) ++ready;
  EXPECT_EQ(ready, 4u);
}

}  // namespace
}  // namespace vgd
