// PVINFO page (docs/hardware.md, PVINFO): what a guest reads at each absolute offset, which writes
// the host keeps, which it drops, and what a reset brings back. Offsets and values are literals
// from the documented table, so a layout slip in hw/pvinfo.h shows up here.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "support.h"

namespace vgd::test {
namespace {

// Absolute BAR0 offsets (docs/hardware.md, PVINFO).
constexpr uint64_t kMagic = 0x78000;
constexpr uint64_t kVersionMajor = 0x78008;
constexpr uint64_t kVersionMinor = 0x7800A;
constexpr uint64_t kVgtId = 0x7800C;
constexpr uint64_t kCaps = 0x78010;
constexpr uint64_t kApertureBase = 0x78040;
constexpr uint64_t kApertureSize = 0x78044;
constexpr uint64_t kHiddenBase = 0x78048;
constexpr uint64_t kHiddenSize = 0x7804C;
constexpr uint64_t kFenceNum = 0x78050;
constexpr uint64_t kMaxMode = 0x78058;
constexpr uint64_t kDisplayReady = 0x78804;
constexpr uint64_t kG2vNotify = 0x78818;
constexpr uint64_t kRsv6 = 0x7881C;
constexpr uint64_t kCursorXHot = 0x78830;
constexpr uint64_t kCursorYHot = 0x78834;
constexpr uint64_t kPdp0Lo = 0x78838;
constexpr uint64_t kPageEnd = 0x79000;

constexpr uint64_t kMiBytes = 1ull << 20;

struct Access {
  uint64_t off;
  unsigned size;
};

std::string hex(uint64_t v) {
  std::ostringstream os;
  os << std::hex << std::uppercase << v;
  return os.str();
}
std::string access_name(const ::testing::TestParamInfo<Access>& tp) {
  return "At" + hex(tp.param.off) + "x" + std::to_string(tp.param.size);
}

class PvinfoTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create();
  }
  uint64_t r(uint64_t off, unsigned size = 4) { return rd(*v, off, size); }
  void w(uint64_t off, uint64_t val, unsigned size = 4) { wr(*v, off, val, size); }

  template <class E>
  std::vector<E> events_of() const {
    std::vector<E> out;
    for (const MgmtEvent& e : events)
      if (const E* p = std::get_if<E>(&e)) out.push_back(*p);
    return out;
  }

  Vgpu* v = nullptr;
};

// ---- Host-populated half, read through the MMIO entry point -------------------------------------

TEST_F(PvinfoTest, MagicReadsAsOneQword) { EXPECT_EQ(r(kMagic, 8), 0x4776544776544776u); }

TEST_F(PvinfoTest, MagicReadsAsTwoDwords) {
  EXPECT_EQ(r(kMagic, 4), 0x76544776u);
  EXPECT_EQ(r(kMagic + 4, 4), 0x47765447u);
}

TEST_F(PvinfoTest, MagicSpellsVgtByteByByte) {
  std::string s;
  for (uint64_t i = 0; i < 8; ++i) s.push_back(static_cast<char>(r(kMagic + i, 1)));
  EXPECT_EQ(s, "vGTvGTvG");
}

TEST_F(PvinfoTest, VersionIsOnePointZero) {
  EXPECT_EQ(r(kVersionMajor, 2), 1u);
  EXPECT_EQ(r(kVersionMinor, 2), 0u);
  EXPECT_EQ(r(kVersionMajor, 4), 1u);  // both 16-bit halves of one dword
}

TEST_F(PvinfoTest, VgtIdIsTheVgpuId) {
  Vgpu& second = create();
  EXPECT_EQ(r(kVgtId), v->id());
  EXPECT_EQ(rd(second, kVgtId), second.id());
  EXPECT_NE(v->id(), second.id());
  EXPECT_GE(v->id(), 1u);  // upstream's id 0 is the idle vGPU
}

TEST_F(PvinfoTest, CapsAdvertiseFullPpgttHwspHugeGttAndDamageHints) { EXPECT_EQ(r(kCaps), 0x1001Cu); }

TEST_F(PvinfoTest, InitialGuestHalf) {
  EXPECT_EQ(r(kDisplayReady), 0u);
  EXPECT_EQ(r(kCursorXHot), 0xFFFFFFFFu);
  EXPECT_EQ(r(kCursorYHot), 0xFFFFFFFFu);
}

// Everything not populated by the host reads zero: rsv1..rsv7, g2v, pdp, execlist descriptor.
TEST_F(PvinfoTest, EveryOtherDwordIsZero) {
  const std::set<uint64_t> populated = {kMagic,       kMagic + 4,   kVersionMajor, kVgtId,     kCaps,
                                        kApertureBase, kApertureSize, kHiddenBase, kHiddenSize, kFenceNum,
                                        kMaxMode,     kCursorXHot,  kCursorYHot};
  for (uint64_t off = kMagic; off < kPageEnd; off += 4)
    if (!populated.contains(off)) {
      EXPECT_EQ(r(off), 0u) << "at " << std::hex << off;
    }
}

// avail_rs describes the vGPU's own slices and fences, for every type in docs/hardware.md.
struct TypeCase {
  const char* type;
  uint64_t aperture_mib, hidden_mib;
  uint32_t max_width, max_height;
};

class PvinfoResourcesTest : public GpuTest, public ::testing::WithParamInterface<TypeCase> {
 protected:
  // A 1 GiB aperture offers all four types.
  void SetUp() override {
    GpuConfig cfg;
    cfg.geometry.aperture_size = 1024 * kMiBytes;
    init(cfg);
  }
};

TEST_P(PvinfoResourcesTest, AvailRsMatchesAllocation) {
  Vgpu& g = create(GetParam().type);
  const VgpuResources& res = g.resources();
  EXPECT_EQ(rd(g, kApertureBase), res.aperture.begin.value());
  EXPECT_EQ(rd(g, kApertureSize), GetParam().aperture_mib * kMiBytes);
  EXPECT_EQ(rd(g, kHiddenBase), res.hidden.begin.value());
  EXPECT_EQ(rd(g, kHiddenSize), GetParam().hidden_mib * kMiBytes);
  EXPECT_EQ(rd(g, kFenceNum), 4u);
  // The guest's driver offers only modes up to the type's largest (docs/hardware.md, PVINFO).
  EXPECT_EQ(rd(g, kMaxMode), GetParam().max_width | GetParam().max_height << 16);
  EXPECT_EQ(res.aperture.size, GetParam().aperture_mib * kMiBytes);
  EXPECT_EQ(res.fences.size(), 4u);
  // Ballooning needs the aperture slice below the aperture end, the hidden one above it.
  EXPECT_GE(rd(g, kApertureBase), 128 * kMiBytes);  // host keeps the bottom 128 MiB
  EXPECT_LE(rd(g, kApertureBase) + rd(g, kApertureSize), 1024 * kMiBytes);
  EXPECT_GE(rd(g, kHiddenBase), 1024 * kMiBytes);
  EXPECT_LE(rd(g, kHiddenBase) + rd(g, kHiddenSize), 4096 * kMiBytes);
}

INSTANTIATE_TEST_SUITE_P(StandardTypes, PvinfoResourcesTest,
                         ::testing::Values(TypeCase{"GVTg_V5_8", 64, 384, 1024, 768},
                                           TypeCase{"GVTg_V5_4", 128, 512, 1920, 1200},
                                           TypeCase{"GVTg_V5_2", 256, 1024, 1920, 1200},
                                           TypeCase{"GVTg_V5_1", 512, 2048, 1920, 1200}),
                         [](const auto& tp) { return std::string(tp.param.type); });

// ---- Reads --------------------------------------------------------------------------------------

TEST_F(PvinfoTest, AnyReadMarksPvAware) {
  EXPECT_FALSE(v->pv_aware());
  r(kCaps);
  EXPECT_TRUE(v->pv_aware());
}

TEST_F(PvinfoTest, ListedReadsAreQuiet) {
  for (uint64_t off : {kMagic, kMagic + 4, kVersionMajor, kVgtId, kCaps, kApertureBase, kApertureSize,
                       kHiddenBase, kHiddenSize, kFenceNum, kMaxMode, kRsv6})
    r(off);
  EXPECT_EQ(v->counters().pvinfo_unlisted_read, 0u);
}

TEST_F(PvinfoTest, UnlistedReadReturnsContentAndIsCounted) {
  EXPECT_EQ(r(kCursorXHot), 0xFFFFFFFFu);
  EXPECT_EQ(r(kDisplayReady), 0u);
  EXPECT_EQ(v->counters().pvinfo_unlisted_read, 2u);
  EXPECT_EQ(v->counters().refused(), 0u);  // informational, not misbehaviour
}

// ---- Writes the host keeps -----------------------------------------------------------------------

class PvinfoStoredWriteTest : public PvinfoTest, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(PvinfoStoredWriteTest, IsStoredAndReadBack) {
  const uint64_t off = GetParam();
  const uint64_t val = 0x5A000000u | off;
  w(off, val);
  EXPECT_EQ(r(off), val);
  EXPECT_EQ(v->counters().refused(), 0u);
  EXPECT_FALSE(v->failsafe());
  EXPECT_TRUE(events.empty());
}

// Hotspots, pdp[0..3].lo/hi, execlist descriptor lo/hi.
INSTANTIATE_TEST_SUITE_P(Whitelist, PvinfoStoredWriteTest,
                         ::testing::Values(0x78830, 0x78834, 0x78838, 0x7883C, 0x78840, 0x78844, 0x78848,
                                           0x7884C, 0x78850, 0x78854, 0x78858, 0x7885C),
                         [](const auto& tp) { return "At" + hex(tp.param); });

TEST_F(PvinfoTest, PdpTakesAQwordWrite) {
  w(kPdp0Lo, 0x0000000123456000u, 8);
  EXPECT_EQ(r(kPdp0Lo), 0x23456000u);
  EXPECT_EQ(r(kPdp0Lo + 4), 0x1u);
}

TEST_F(PvinfoTest, DisplayReadyOneThenZeroEachRaiseOneEvent) {
  w(kDisplayReady, 1);
  EXPECT_EQ(r(kDisplayReady), 1u);
  EXPECT_EQ(v->display_ready(), 1u);
  w(kDisplayReady, 0);
  EXPECT_EQ(r(kDisplayReady), 0u);
  const auto ev = events_of<DisplayReadyEvent>();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].vgpu, v->id());
  EXPECT_EQ(ev[0].ready, 1u);
  EXPECT_EQ(ev[1].vgpu, v->id());
  EXPECT_EQ(ev[1].ready, 0u);
  EXPECT_EQ(events.size(), 2u);
}

TEST_F(PvinfoTest, DisplayReadyOtherValueIsRefused) {
  w(kDisplayReady, 1);
  events.clear();
  w(kDisplayReady, 5);
  EXPECT_EQ(r(kDisplayReady), 1u);  // previous value kept
  EXPECT_EQ(v->counters().attacks[GuestAttack::PvinfoDisplayReadyInvalid], 1u);
  EXPECT_TRUE(events.empty());
}

// ---- g2v_notify codes --------------------------------------------------------------------------

struct G2vCase {
  uint32_t code;
  bool invalid;
};

class PvinfoG2vTest : public PvinfoTest, public ::testing::WithParamInterface<G2vCase> {};

TEST_P(PvinfoG2vTest, CodeIsAcceptedOrCounted) {
  w(kG2vNotify, GetParam().code);
  if (!GetParam().invalid) {
    EXPECT_EQ(r(kG2vNotify), GetParam().code);  // stored
  }
  EXPECT_EQ(v->counters().attacks[GuestAttack::PvinfoG2vInvalid], GetParam().invalid ? 1u : 0u);
  EXPECT_EQ(v->counters().refused(), GetParam().invalid ? 1u : 0u);
  EXPECT_FALSE(v->failsafe());
  EXPECT_TRUE(events.empty());
}

INSTANTIATE_TEST_SUITE_P(Codes, PvinfoG2vTest,
                         ::testing::Values(G2vCase{1, false}, G2vCase{2, false}, G2vCase{3, false},
                                           G2vCase{4, false}, G2vCase{5, false}, G2vCase{6, false},
                                           G2vCase{7, false}, G2vCase{0, true}, G2vCase{8, true},
                                           G2vCase{0xdead, true}),
                         [](const auto& tp) { return "Code" + std::to_string(tp.param.code); });

// ---- Writes the host drops ----------------------------------------------------------------------

class PvinfoDroppedWriteTest : public PvinfoTest, public ::testing::WithParamInterface<Access> {};

TEST_P(PvinfoDroppedWriteTest, LeavesValueAndIsCounted) {
  const auto [off, size] = GetParam();
  const uint64_t before = r(off, size);
  w(off, 0xA5A5A5A5A5A5A5A5u, size);
  EXPECT_EQ(r(off, size), before);
  EXPECT_EQ(v->counters().attacks[GuestAttack::PvinfoReadonlyWrite], 1u);
  EXPECT_FALSE(v->failsafe());
  EXPECT_TRUE(events.empty());
}

INSTANTIATE_TEST_SUITE_P(
    HostFieldsAndReserved, PvinfoDroppedWriteTest,
    ::testing::Values(Access{0x78000, 8}, Access{0x78004, 4}, Access{0x78000, 1}, Access{0x78008, 2},
                      Access{0x7800A, 2}, Access{0x7800C, 4}, Access{0x78010, 4},           // identity, caps
                      Access{0x78014, 4}, Access{0x7803C, 4},                                 // rsv1
                      Access{0x78040, 4}, Access{0x78044, 4}, Access{0x78048, 8}, Access{0x78050, 4},  // avail_rs
                      Access{0x78054, 4}, Access{0x78060, 4}, Access{0x787FC, 4},             // rsv2, rsv3
                      Access{0x78800, 4}, Access{0x7881C, 4}, Access{0x7882C, 4},             // rsv4, rsv6
                      Access{0x78860, 4}, Access{0x78FF8, 8}),                                // rsv7
    access_name);

// ---- rsv5: the guest's "insufficient resource" signal ----------------------------------------------

class PvinfoRsv5Test : public PvinfoTest, public ::testing::WithParamInterface<Access> {};

TEST_P(PvinfoRsv5Test, EntersFailsafeOnce) {
  const auto [off, size] = GetParam();
  w(off, 0xFFFFFFFFFFFFFFFFu, size);
  EXPECT_TRUE(v->failsafe());
  EXPECT_EQ(v->failsafe_reason(), FailsafeReason::InsufficientResource);
  EXPECT_EQ(v->counters().attacks[GuestAttack::PvinfoRsv5Write], 1u);
  EXPECT_EQ(r(off, size), 0u);  // the write itself is dropped
  const auto ev = events_of<FailsafeEvent>();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].vgpu, v->id());
  EXPECT_EQ(ev[0].reason, FailsafeReason::InsufficientResource);
  EXPECT_EQ(events.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(AnyByteAnySize, PvinfoRsv5Test,
                         ::testing::Values(Access{0x78808, 1}, Access{0x78808, 4}, Access{0x78808, 8},
                                           Access{0x7880A, 2}, Access{0x7880C, 4}, Access{0x78810, 8},
                                           Access{0x78814, 4}, Access{0x78817, 1}),
                         access_name);

// Failsafe stops display emulation, not the vGPU: it keeps answering and PVINFO keeps working.
TEST_F(PvinfoTest, FailsafeVgpuKeepsRunning) {
  w(0x78808, 1);
  ASSERT_TRUE(v->failsafe());
  EXPECT_EQ(r(kMagic, 8), 0x4776544776544776u);
  EXPECT_EQ(r(kVgtId), v->id());
  w(kCursorXHot, 12);
  EXPECT_EQ(r(kCursorXHot), 12u);
  w(kDisplayReady, 1);
  EXPECT_EQ(r(kDisplayReady), 1u);
  EXPECT_EQ(events_of<DisplayReadyEvent>().size(), 1u);
  w(0x2000, 0x1234);  // a plain register elsewhere
  EXPECT_EQ(r(0x2000), 0x1234u);
  // A second signal is counted but does not announce failsafe again.
  w(0x7880C, 1);
  EXPECT_EQ(v->counters().attacks[GuestAttack::PvinfoRsv5Write], 2u);
  EXPECT_EQ(events_of<FailsafeEvent>().size(), 1u);
}

// ---- Reset (repopulated on every device-model reset) --------------------------------------------

TEST_F(PvinfoTest, ResetRepopulatesAndForgetsGuestState) {
  const uint64_t aperture_base = r(kApertureBase);
  w(kCursorXHot, 1);
  w(kCursorYHot, 2);
  w(kPdp0Lo, 0x1000);
  w(kDisplayReady, 1);
  w(0x78808, 1);
  ASSERT_TRUE(v->failsafe());
  ASSERT_TRUE(v->pv_aware());

  v->reset();
  EXPECT_FALSE(v->failsafe());
  EXPECT_EQ(v->failsafe_reason(), std::nullopt);
  EXPECT_FALSE(v->pv_aware());  // checked before any read below marks it again
  EXPECT_EQ(r(kMagic, 8), 0x4776544776544776u);
  EXPECT_EQ(r(kVersionMajor, 2), 1u);
  EXPECT_EQ(r(kVgtId), v->id());
  EXPECT_EQ(r(kCaps), 0x1001Cu);
  EXPECT_EQ(r(kApertureBase), aperture_base);
  EXPECT_EQ(r(kFenceNum), 4u);
  EXPECT_EQ(r(kDisplayReady), 0u);
  EXPECT_EQ(r(kCursorXHot), 0xFFFFFFFFu);
  EXPECT_EQ(r(kCursorYHot), 0xFFFFFFFFu);
  EXPECT_EQ(r(kPdp0Lo), 0u);
  // The guest can go failsafe again after the reset.
  w(0x78808, 1);
  EXPECT_TRUE(v->failsafe());
  EXPECT_EQ(events_of<FailsafeEvent>().size(), 2u);
}

}  // namespace
}  // namespace vgd::test
