// Guest GGTT entry writes (docs/hardware.md, GGTT): entries at BAR0 8 MiB + 8·index are validated
// against the vGPU's slices, translated to a page of the VM's RAM (or the scratch page), and the
// guest always reads back its own view.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>

#include "support.h"
#include "util/mapping.h"

namespace vgd {
// Readable failure messages for translations.
inline void PrintTo(const HostPage& p, std::ostream* os) {
  if (p.scratch)
    *os << "scratch";
  else
    *os << "memfd+0x" << std::hex << p.offset.value();
}
}  // namespace vgd

namespace vgd::test {
namespace {

constexpr uint64_t kGttBase = 0x800000;  // BAR0 offset of GTT entry 0
constexpr uint64_t kPage = 4096;
constexpr uint64_t kMiBytes = 1ull << 20;
constexpr uint64_t kRamBytes = 64 * kMiBytes;
constexpr uint64_t kRamFrames = kRamBytes / kPage;

constexpr uint64_t entry_off(Gma a) { return kGttBase + a.value() / kPage * 8; }
// gen8 PTE: present bit 0, frame in bits 38:12.
constexpr uint64_t pte(uint64_t frame) { return frame << 12 | 1; }

const HostPage kScratch{};
HostPage ram_page(uint64_t frame) { return HostPage{false, MemfdOffset(frame * kPage)}; }

class GgttTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create("GVTg_V5_8", kRamBytes);
  }
  static void set_pte(Vgpu& g, Gma a, uint64_t value) { wr(g, entry_off(a), value, 8); }
  static HostPage host(const Vgpu& g, Gma a) {
    const std::optional<HostPage> h = g.ggtt().translate(a);
    EXPECT_TRUE(h.has_value()) << "GM " << std::hex << a.value() << " not owned";
    return h.value_or(HostPage{false, MemfdOffset(~0ull)});
  }
  Gma aperture_page() const { return v->resources().aperture.begin + 3 * kPage; }
  Gma hidden_page() const { return v->resources().hidden.begin + 5 * kPage; }

  Vgpu* v = nullptr;
};

// ---- Mapping a page of guest RAM ------------------------------------------------------------------

struct SlicePage {
  const char* name;
  bool hidden;
  bool last;  // last page of the slice, else the first
};

class GgttSliceTest : public GgttTest, public ::testing::WithParamInterface<SlicePage> {
 protected:
  Gma where() const {
    const GmRange& r = GetParam().hidden ? v->resources().hidden : v->resources().aperture;
    return GetParam().last ? r.end() - kPage : r.begin;
  }
};

TEST_P(GgttSliceTest, PresentPteTranslatesToGuestPage) {
  const Gma a = where();
  set_pte(*v, a, pte(0x123));
  EXPECT_EQ(host(*v, a), ram_page(0x123));
  EXPECT_EQ(host(*v, a + 0xABC), ram_page(0x123));  // any byte of the page
  EXPECT_EQ(v->ggtt().guest_gpa(a), Gpa(0x123000));
  EXPECT_EQ(v->counters().refused(), 0u);
  // Only this entry changed.
  const Gma neighbour = GetParam().last ? a - kPage : a + kPage;
  EXPECT_EQ(host(*v, neighbour), kScratch);
}

TEST_P(GgttSliceTest, ReadsReturnTheGuestView) {
  const Gma a = where();
  set_pte(*v, a, pte(0x3FFF));
  EXPECT_EQ(rd(*v, entry_off(a), 8), 0x3FFF001u);
  EXPECT_EQ(rd(*v, entry_off(a), 4), 0x3FFF001u);
  EXPECT_EQ(rd(*v, entry_off(a) + 4, 4), 0u);
}

INSTANTIATE_TEST_SUITE_P(Slices, GgttSliceTest,
                         ::testing::Values(SlicePage{"ApertureFirst", false, false},
                                           SlicePage{"ApertureLast", false, true},
                                           SlicePage{"HiddenFirst", true, false},
                                           SlicePage{"HiddenLast", true, true}),
                         [](const auto& tp) { return std::string(tp.param.name); });

TEST_F(GgttTest, FlagBitsAreNotPartOfTheFrame) {
  set_pte(*v, aperture_page(), pte(9) | 0xFFE);  // bits 11:1 carry caching attributes
  EXPECT_EQ(host(*v, aperture_page()), ram_page(9));
}

TEST_F(GgttTest, LastFrameOfRamMaps) {
  set_pte(*v, hidden_page(), pte(kRamFrames - 1));
  EXPECT_EQ(host(*v, hidden_page()), ram_page(kRamFrames - 1));
  EXPECT_EQ(v->counters().attacks[GuestAttack::GgttFrameOutsideRam], 0u);
}

// The translation really is the guest's page: bytes the guest puts at the GPA (through its own
// mapping of the RAM memfd, as a VMM would) are what the host sees at the translated offset.
TEST_F(GgttTest, TranslatedOffsetHoldsTheGuestsData) {
  constexpr uint64_t kFrame = 0x42;
  const Gma a = aperture_page();
  set_pte(*v, a, pte(kFrame));
  const std::optional<Gpa> gpa = v->ggtt().guest_gpa(a);
  ASSERT_EQ(gpa, Gpa(kFrame * kPage));

  auto guest_view = Mapping::of_fd(v->ram().fd(), kRamBytes, 0, PROT_READ | PROT_WRITE);
  ASSERT_TRUE(guest_view) << guest_view.error();
  const char msg[] = "frame 0x42 from the guest";
  std::memcpy(guest_view->data() + gpa->value() + 100, msg, sizeof msg);

  const HostPage h = host(*v, a);
  ASSERT_FALSE(h.scratch);
  const auto bytes = v->ram().host_bytes(h.offset, kPage);
  EXPECT_EQ(std::memcmp(bytes.data() + 100, msg, sizeof msg), 0);
}

// ---- Entries outside the vGPU's slices ------------------------------------------------------------

struct ForeignCase {
  const char* name;
  Gma (*where)(const Vgpu& self, const Vgpu& other);
};

class GgttForeignTest : public GgttTest, public ::testing::WithParamInterface<ForeignCase> {
 protected:
  void SetUp() override {
    GgttTest::SetUp();
    other = &create();
  }
  Vgpu* other = nullptr;
};

TEST_P(GgttForeignTest, WriteIsDroppedAndCounted) {
  const Gma a = GetParam().where(*v, *other);
  ASSERT_FALSE(v->ggtt().owns(a));
  const bool others = other->ggtt().owns(a);
  if (others) set_pte(*other, a, pte(42));

  set_pte(*v, a, pte(7));
  wr(*v, entry_off(a), pte(8), 4);
  EXPECT_EQ(v->counters().attacks[GuestAttack::GgttForeignPte], 2u);
  EXPECT_EQ(rd(*v, entry_off(a), 8), 0u);
  EXPECT_EQ(v->ggtt().translate(a), std::nullopt);
  if (others) {
    EXPECT_EQ(rd(*other, entry_off(a), 8), pte(42));
    EXPECT_EQ(host(*other, a), ram_page(42));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Outside, GgttForeignTest,
    ::testing::Values(
        ForeignCase{"HostLowGm", [](const Vgpu&, const Vgpu&) { return Gma(0); }},
        ForeignCase{"HostLowGmTop", [](const Vgpu&, const Vgpu&) { return Gma(128 * kMiBytes - kPage); }},
        ForeignCase{"HostHighGm", [](const Vgpu&, const Vgpu&) { return Gma(512 * kMiBytes); }},
        ForeignCase{"UnallocatedAperture", [](const Vgpu&, const Vgpu&) { return Gma(512 * kMiBytes - kPage); }},
        ForeignCase{"UnallocatedHidden", [](const Vgpu&, const Vgpu&) { return Gma(2048 * kMiBytes); }},
        ForeignCase{"OtherAperture", [](const Vgpu&, const Vgpu& o) { return o.resources().aperture.begin; }},
        ForeignCase{"OtherHiddenLast",
                    [](const Vgpu&, const Vgpu& o) { return o.resources().hidden.end() - kPage; }}),
    [](const auto& tp) { return std::string(tp.param.name); });

// ---- Entries that point nowhere valid -------------------------------------------------------------

class GgttBadFrameTest : public GgttTest, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(GgttBadFrameTest, MapsScratchButGuestReadsItsValue) {
  const Gma a = hidden_page();
  set_pte(*v, a, pte(1));  // a stale valid mapping must not survive
  const uint64_t value = pte(GetParam()) | 0xABCD000000000000u;
  set_pte(*v, a, value);
  EXPECT_EQ(host(*v, a), kScratch);
  EXPECT_EQ(v->ggtt().guest_gpa(a), std::nullopt);
  EXPECT_EQ(v->counters().attacks[GuestAttack::GgttFrameOutsideRam], 1u);
  EXPECT_EQ(rd(*v, entry_off(a), 8), value);
  EXPECT_EQ(rd(*v, entry_off(a), 4), value & 0xFFFFFFFFu);
  EXPECT_EQ(rd(*v, entry_off(a) + 4, 4), value >> 32);
}

INSTANTIATE_TEST_SUITE_P(BeyondRam, GgttBadFrameTest, ::testing::Values(kRamFrames, 0x7FFFFFFu),
                         [](const auto& tp) { return "Frame" + std::to_string(tp.param); });

TEST_F(GgttTest, NotPresentMapsScratch) {
  const Gma a = aperture_page();
  set_pte(*v, a, pte(5));
  set_pte(*v, a, pte(5) & ~1ull);
  EXPECT_EQ(host(*v, a), kScratch);
  EXPECT_EQ(rd(*v, entry_off(a), 8), 0x5000u);
  EXPECT_EQ(v->counters().pte_not_present, 1u);
  EXPECT_EQ(v->counters().refused(), 0u);  // unmapping is legitimate
}

TEST_F(GgttTest, NarrowWritesAreRefused) {
  const Gma a = aperture_page();
  set_pte(*v, a, pte(7));
  // Applied, either would clear the present bit; the bus itself accepts them (device refuses).
  (void)v->write(MmioOffset(entry_off(a)), 1, 0);
  (void)v->write(MmioOffset(entry_off(a) + 2), 2, 0);
  EXPECT_EQ(v->counters().attacks[GuestAttack::GgttNarrowWrite], 2u);
  EXPECT_EQ(rd(*v, entry_off(a), 8), pte(7));
  EXPECT_EQ(host(*v, a), ram_page(7));
}

// ---- Split 2 × 4-byte writes (the first half maps scratch) -------------------------------------

// RAM above 4 GiB so the frame has bits in the high dword too (memfd pages are only virtual).
constexpr uint64_t kBigRam = 4096 * kMiBytes + kMiBytes;
constexpr uint64_t kHighFrame = 0x100003;  // GPA 4 GiB + 12 KiB: PTE 0x1'00003001

class GgttSplitTest : public GpuTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create("GVTg_V5_8", kBigRam);
    a = v->resources().aperture.begin;
  }
  void half(bool high, uint64_t value) {
    wr(*v, entry_off(a) + (high ? 4 : 0), high ? value >> 32 : value & 0xFFFFFFFFu, 4);
  }
  HostPage now() const { return v->ggtt().translate(a).value_or(HostPage{false, MemfdOffset(~0ull)}); }
  Vgpu* v = nullptr;
  Gma a;
};

TEST_P(GgttSplitTest, FirstHalfMapsScratchSecondCompletes) {
  const bool low_first = GetParam();
  wr(*v, entry_off(a), pte(7), 8);
  ASSERT_EQ(now(), ram_page(7));

  half(!low_first, pte(kHighFrame));
  EXPECT_EQ(now(), kScratch) << "half an entry must never point at guest RAM";
  half(low_first, pte(kHighFrame));
  EXPECT_EQ(now(), ram_page(kHighFrame));
  EXPECT_EQ(v->ggtt().guest_gpa(a), Gpa(kHighFrame * kPage));
  EXPECT_EQ(rd(*v, entry_off(a), 8), 0x100003001u);
  EXPECT_EQ(v->counters().refused(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Orders, GgttSplitTest, ::testing::Bool(),
                         [](const auto& tp) { return tp.param ? "LowThenHigh" : "HighThenLow"; });

TEST_F(GgttTest, SameHalfTwiceIsStillHalf) {
  const Gma a = aperture_page();
  wr(*v, entry_off(a), pte(3), 4);
  wr(*v, entry_off(a), pte(4), 4);
  EXPECT_EQ(host(*v, a), kScratch);
  wr(*v, entry_off(a) + 4, 0, 4);
  EXPECT_EQ(host(*v, a), ram_page(4));
}

// ---- Reset -----------------------------------------------------------------------------------------

TEST_F(GgttTest, ResetClearsEveryEntry) {
  const Gma pending = aperture_page() + kPage;
  set_pte(*v, aperture_page(), pte(1));
  set_pte(*v, hidden_page(), pte(2));
  wr(*v, entry_off(pending), pte(3), 4);

  v->reset();
  for (Gma a : {aperture_page(), hidden_page(), pending}) {
    EXPECT_EQ(host(*v, a), kScratch);
    EXPECT_EQ(v->ggtt().guest_gpa(a), std::nullopt);
    EXPECT_EQ(rd(*v, entry_off(a), 8), 0u);
  }
  // A half written before the reset must not complete with one written after it.
  wr(*v, entry_off(pending) + 4, 0, 4);
  EXPECT_EQ(host(*v, pending), kScratch);
  // And the table works again.
  set_pte(*v, hidden_page(), pte(6));
  EXPECT_EQ(host(*v, hidden_page()), ram_page(6));
}

}  // namespace
}  // namespace vgd::test
