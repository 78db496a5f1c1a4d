// A running vGPU whose VM sends new RAM maps (docs/design.md "Guest RAM"): GTT entries are
// translated again when the layout changes, consumers (through the vGPU's ConsumerPort) see the
// bytes the new map names under new ids, an unchanged layout changes nothing they see, and what
// they were handed stays readable after the map is replaced and after the vGPU is gone.
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "display/vblank_clock.h"
#include "plane_support.h"
#include "ram_support.h"
#include "server/consumer_port.h"

namespace vgd {
namespace {

using exporter::Errc;
using exporter::ExportedBuffer;
using test::kFrame0;
using test::kGtt;
using test::page_mark;
using test::pte;
using test::VmMemfd;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kRam = 16 * kMiB;
constexpr uint64_t kPages = test::SmallPrimary::kPages;
constexpr uint32_t kAsync = 1u << 9;

std::shared_ptr<GuestRam> ram_of(std::vector<RamSection> s) {
  auto r = GuestRam::from_sections(std::move(s));
  EXPECT_TRUE(r) << r.error();
  return r ? *r : nullptr;
}

// The marker byte of every page of a buffer, read through the consumer's descriptor.
std::vector<uint8_t> marks(const ExportedBuffer& b) {
  std::vector<uint8_t> out;
  for (const exporter::Extent& e : b.extents) {
    void* m = ::mmap(nullptr, e.length, PROT_READ, MAP_SHARED, b.fd.get(), static_cast<off_t>(e.offset));
    EXPECT_NE(m, MAP_FAILED);
    if (m == MAP_FAILED) return out;
    for (uint64_t k = 0; k < e.length; k += kPageSize) out.push_back(static_cast<const uint8_t*>(m)[k]);
    ::munmap(m, e.length);
  }
  return out;
}

// What the plane's pages show when guest frame f is file page `file_page(f)`.
template <class F>
std::vector<uint8_t> expected(F file_page) {
  std::vector<uint8_t> out;
  for (uint64_t p = 0; p < kPages; ++p) out.push_back(page_mark(file_page(kFrame0 + p)));
  return out;
}
const std::vector<uint8_t> kAtGpa = expected([](uint64_t f) { return f; });
// The shifted map: guest-physical [0, 8 MiB) at file offset 8 MiB.
std::vector<RamSection> shifted(const VmMemfd& vm) {
  std::vector<RamSection> s;
  s.push_back(vm.section(0, 8 * kMiB, 8 * kMiB));
  return s;
}
const std::vector<uint8_t> kShifted = expected([](uint64_t f) { return f + 8 * kMiB / kPageSize; });

// A vGPU of a QEMU-like VM at its boot map, pipe A showing a 64×64 primary at guest frames
// kFrame0..., and its consumer side as the daemon runs it.
class RamReplaceTest : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    auto v = gpu->create_vgpu("GVTg_V5_8", ram_of(vm.boot_sections()));
    ASSERT_TRUE(v);
    vgpu = *v;
    test::SmallPrimary::light(*vgpu, 1, kAsync);
    wr(*vgpu, test::SmallPrimary::reg(hw::plane::kSurf), test::SmallPrimary::surface(*vgpu, 0));
  }
  void TearDown() override { port.reset(); }
  void open_port(TearingMode tearing = TearingMode::None) {
    VgpuSpec spec;
    spec.tearing = tearing;
    const exporter::ExporterOptions ex{.udmabuf = false};
    port = std::make_unique<server::ConsumerPort>(lock, *vgpu, spec, ex, clock);
    consumer = *port->open(server::Trust::Trusted);
  }
  bool replace(std::shared_ptr<GuestRam> ram) {
    const Locked lk(lock);
    return vgpu->replace_ram(std::move(ram));
  }
  uint32_t query() {
    exporter::GfxPlaneInfo req;
    req.argsz = sizeof req, req.flags = exporter::kFlagDmabuf, req.drm_plane_type = exporter::kPlanePrimary;
    auto r = port->query(consumer, req);
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->dmabuf_id : 0;
  }
  ExportedBuffer get(uint32_t id) {
    auto b = port->get(consumer, id);
    EXPECT_TRUE(b) << b.error().message;
    return b ? std::move(*b) : ExportedBuffer{};
  }
  std::optional<HostPage> host_page(uint64_t gm_page) const {
    return vgpu->ggtt().translate(test::SmallPrimary::gm(*vgpu, gm_page));
  }

  VmMemfd vm{kRam};
  WorkLock lock;
  display::VirtualClock clock;
  Vgpu* vgpu = nullptr;
  std::unique_ptr<server::ConsumerPort> port;
  server::ConsumerId consumer = 0;
};

TEST_F(RamReplaceTest, VgpuWithoutMemoryMapsScratchUntilItsRamComes) {
  Vgpu& v = create();
  ASSERT_TRUE(v.replace_ram(GuestRam::none()));
  const Gma a = v.resources().aperture.begin;
  wr(v, gtt_off(a), pte(kFrame0), 8);
  EXPECT_EQ(v.ggtt().translate(a), HostPage{}) << "no RAM: scratch";
  EXPECT_EQ(v.counters().attacks[GuestAttack::GgttFrameOutsideRam], 1u);
  const uint64_t gen = v.ggtt().generation();
  ASSERT_TRUE(v.replace_ram(ram_of(vm.boot_sections())));
  EXPECT_NE(v.ggtt().generation(), gen) << "plane caches must decode again";
  EXPECT_EQ(v.ggtt().translate(a), (HostPage{false, MemfdOffset::from_page(kFrame0)}))
      << "the entry the guest wrote is translated through the new map";
  EXPECT_EQ(rd(v, gtt_off(a), 8), pte(kFrame0)) << "the guest view is untouched";
}

TEST_F(RamReplaceTest, EntryIntoAHoleIsScratchAndMapsOnceTheHoleIsRam) {
  wr(*vgpu, kGtt + 8 * test::SmallPrimary::gm(*vgpu, 0).page(), pte(0xc0), 8);  // the VGA/BIOS hole
  EXPECT_EQ(host_page(0), HostPage{});
  EXPECT_EQ(vgpu->counters().attacks[GuestAttack::GgttFrameOutsideRam], 1u);
  EXPECT_EQ(host_page(1), (HostPage{false, MemfdOffset::from_page(kFrame0 + 1)}));
  ASSERT_TRUE(replace(ram_of(vm.flat_sections())));  // after the BIOS
  EXPECT_EQ(host_page(0), (HostPage{false, MemfdOffset::from_page(0xc0)}));
  ASSERT_TRUE(replace(ram_of(shifted(vm))));
  EXPECT_EQ(host_page(0), (HostPage{false, MemfdOffset::from_page(0xc0) + 8 * kMiB}));
  ASSERT_TRUE(replace(ram_of(vm.boot_sections())));
  EXPECT_EQ(host_page(0), HostPage{}) << "a hole again";
}

TEST_F(RamReplaceTest, HalfAnEntryStaysScratchAcrossANewMapUntilItsOtherHalf) {
  const uint64_t entry = kGtt + 8 * test::SmallPrimary::gm(*vgpu, 0).page();
  wr(*vgpu, entry, pte(kFrame0 + 7) & 0xFFFFFFFF);  // the low half only
  EXPECT_EQ(host_page(0), HostPage{});
  ASSERT_TRUE(replace(ram_of(shifted(vm))));
  EXPECT_EQ(host_page(0), HostPage{}) << "half an entry is not an address, whatever the map";
  wr(*vgpu, entry + 4, pte(kFrame0 + 7) >> 32);
  EXPECT_EQ(host_page(0), (HostPage{false, MemfdOffset::from_page(kFrame0 + 7) + 8 * kMiB}));
}

TEST_F(RamReplaceTest, SameLayoutKeepsIdsAndBytes) {
  open_port();
  const uint32_t id = query();
  const ExportedBuffer before = get(id);
  EXPECT_EQ(marks(before), kAtGpa);
  const uint64_t gen = vgpu->ggtt().generation();
  EXPECT_FALSE(replace(ram_of(vm.boot_sections()))) << "fresh descriptors of the same map";
  EXPECT_EQ(vgpu->ggtt().generation(), gen) << "nothing to decode again";
  EXPECT_EQ(query(), id);
  const ExportedBuffer after = get(id);
  EXPECT_EQ(after.extents, before.extents);
  EXPECT_EQ(marks(after), kAtGpa);
}

TEST_F(RamReplaceTest, ChangedLayoutShowsTheNewBytesUnderANewId) {
  open_port();
  const uint32_t id = query();
  const ExportedBuffer before = get(id);
  ASSERT_TRUE(replace(ram_of(shifted(vm))));
  EXPECT_EQ(port->get(consumer, id).error().code, Errc::NoSuchBuffer) << "its pages moved: the id is gone";
  EXPECT_EQ(port->release(consumer, id).error().code, Errc::NoSuchBuffer);
  const uint32_t now = query();
  EXPECT_NE(now, id);
  EXPECT_EQ(marks(get(now)), kShifted);
  EXPECT_EQ(marks(before), kAtGpa) << "a descriptor handed out before still reads its own pages";
}

TEST_F(RamReplaceTest, CopyModeCopiesAgainFromTheNewLayout) {
  open_port(TearingMode::Copy);
  const uint32_t first = query();
  const std::vector<uint8_t> shadow = marks(get(first));
  ASSERT_EQ(shadow.size(), kPages);
  EXPECT_EQ(shadow, kAtGpa);
  ASSERT_TRUE(replace(ram_of(shifted(vm))));
  EXPECT_EQ(marks(get(query())), kShifted);
}

// tearing = hold: a guest waiting for a consumer to let go of a buffer waits no longer once
// the buffer is gone with its layout.
TEST_F(RamReplaceTest, HoldModeLetsAHeldFlipGoWithTheBuffersOfTheOldLayout) {
  using test::SmallPrimary;
  open_port(TearingMode::Hold);
  wr(*vgpu, hw::irq::imr(hw::Pipe::A), 0);
  wr(*vgpu, SmallPrimary::reg(hw::plane::kCtl), test::kOn | 4u << 24);  // synchronous flips from now on
  for (uint64_t k = 0; k < kPages; ++k)  // surface 1
    wr(*vgpu, kGtt + 8 * SmallPrimary::gm(*vgpu, kPages + k).page(), pte(kFrame0 + kPages + k), 8);
  const auto flip_done = [this] {
    const bool set = rd(*vgpu, hw::irq::iir(hw::Pipe::A)) & hw::irq::kPrimaryFlipDone;
    wr(*vgpu, hw::irq::iir(hw::Pipe::A), hw::irq::kPrimaryFlipDone);
    return set;
  };
  (void)flip_done();  // the flip to surface 0 in SetUp
  const ExportedBuffer held = get(query());  // surface 0, kept
  wr(*vgpu, SmallPrimary::reg(hw::plane::kSurf), SmallPrimary::surface(*vgpu, 1));
  {
    const Locked lk(lock);
    vgpu->vblank();
  }
  ASSERT_FALSE(flip_done()) << "held while the consumer holds surface 0";
  ASSERT_TRUE(replace(ram_of(shifted(vm))));
  EXPECT_TRUE(flip_done());
}

TEST_F(RamReplaceTest, HandedOutBufferOutlivesEveryMapAndTheVgpu) {
  open_port();
  ExportedBuffer b = get(query());
  std::weak_ptr<const GuestRam> first = vgpu->ram_ref();
  const VmMemfd other(kRam);
  ASSERT_TRUE(replace(ram_of(other.flat_sections())));  // another file altogether
  EXPECT_TRUE(first.expired()) << "nothing but the descriptor keeps the first map's file";
  port.reset();
  std::weak_ptr<const GuestRam> second = vgpu->ram_ref();
  ASSERT_TRUE(gpu->destroy_vgpu(vgpu->id()));
  EXPECT_TRUE(second.expired());
  vm = VmMemfd(kPageSize);  // the VM's own descriptor closed too
  EXPECT_EQ(marks(b), kAtGpa);
}

TEST_F(RamReplaceTest, ReplacedMapsCloseTheirDescriptors) {
  open_port();
  const size_t before = test::open_fds();
  for (int i = 0; i < 70; ++i) {  // about what a VM sends while it boots
    auto ram = ram_of(i % 3 == 0 ? vm.flat_sections() : vm.boot_sections());
    if (!vgpu->ram().same_layout(*ram)) replace(std::move(ram));
  }
  EXPECT_EQ(test::open_fds(), before) << "one descriptor of the VM's RAM, whatever came and went";
  EXPECT_EQ(marks(get(query())), kAtGpa);
}

}  // namespace
}  // namespace vgd
