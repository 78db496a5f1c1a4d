// Guest fence registers (docs/hardware.md, Fences): guest fence i at 0x100000 + 8·i is backed by
// the host fence register allocated for slot i; slots beyond the allocation are refused, and
// touching one without having read PVINFO marks a guest unaware it is virtualised (failsafe).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <variant>

#include "support.h"

namespace vgd::test {
namespace {

constexpr uint64_t fence_off(unsigned i) { return 0x100000 + 8 * i; }
constexpr unsigned kHostFences = 32;  // gen7+ fence file (hardware.md)
constexpr uint64_t kPvinfoMagic = 0x78000;

class FenceTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create();  // GVTg_V5_8: 4 fences
  }
  uint64_t host(unsigned guest_index) const { return gpu->host_fence(v->resources().fences.at(guest_index)); }
  // Host fence registers that hold anything, as a bit set.
  uint64_t nonzero_host_fences() const {
    uint64_t set = 0;
    for (unsigned i = 0; i < kHostFences; ++i)
      if (gpu->host_fence(i) != 0) set |= 1ull << i;
    return set;
  }
  uint64_t host_bit(unsigned guest_index) const { return 1ull << v->resources().fences.at(guest_index); }
  size_t failsafe_events() const {
    size_t n = 0;
    for (const MgmtEvent& e : events) n += std::holds_alternative<FailsafeEvent>(e);
    return n;
  }

  Vgpu* v = nullptr;
};

// ---- In-range fences reach their host register -------------------------------------------------

class FenceSlotTest : public FenceTest, public ::testing::WithParamInterface<unsigned> {
 protected:
  uint64_t value() const { return 0x0123456789AB0000u | (GetParam() << 12) | 0x1; }
};

TEST_P(FenceSlotTest, QwordWriteLandsInItsHostFence) {
  const unsigned i = GetParam();
  wr(*v, fence_off(i), value(), 8);
  EXPECT_EQ(host(i), value());
  EXPECT_EQ(nonzero_host_fences(), host_bit(i)) << "no other host fence may change";
  EXPECT_EQ(rd(*v, fence_off(i), 8), value());
  EXPECT_EQ(rd(*v, fence_off(i), 4), value() & 0xFFFFFFFFu);
  EXPECT_EQ(rd(*v, fence_off(i) + 4, 4), value() >> 32);
  EXPECT_EQ(v->counters().refused(), 0u);
}

TEST_P(FenceSlotTest, LoHiDwordWritesCombine) {
  const unsigned i = GetParam();
  wr(*v, fence_off(i), value() & 0xFFFFFFFFu, 4);
  wr(*v, fence_off(i) + 4, value() >> 32, 4);
  EXPECT_EQ(host(i), value());
  EXPECT_EQ(rd(*v, fence_off(i), 8), value());
  // Rewriting only the high half keeps the low half.
  wr(*v, fence_off(i) + 4, 0xCAFE, 4);
  EXPECT_EQ(host(i), 0xCAFE00000000u | (value() & 0xFFFFFFFFu));
  EXPECT_EQ(nonzero_host_fences(), host_bit(i));
}

INSTANTIATE_TEST_SUITE_P(Allocated, FenceSlotTest, ::testing::Values(0u, 1u, 2u, 3u),
                         [](const auto& tp) { return "Fence" + std::to_string(tp.param); });

TEST_F(FenceTest, VgpusUseDisjointHostFences) {
  Vgpu& second = create();
  wr(*v, fence_off(0), 0x1001, 8);
  wr(second, fence_off(0), 0x2001, 8);
  EXPECT_EQ(host(0), 0x1001u);
  EXPECT_EQ(gpu->host_fence(second.resources().fences[0]), 0x2001u);
  EXPECT_EQ(rd(*v, fence_off(0), 8), 0x1001u);
  // The host keeps fences 0..3 for itself.
  for (unsigned h = 0; h < 4; ++h) EXPECT_EQ(gpu->host_fence(h), 0u) << "host fence " << h;
}

TEST_F(FenceTest, InRangeAccessByUnawareGuestIsFine) {
  wr(*v, fence_off(3), 0x5001, 8);
  EXPECT_EQ(rd(*v, fence_off(3), 8), 0x5001u);
  EXPECT_FALSE(v->failsafe());
}

// ---- Beyond the allocation -----------------------------------------------------------------------

struct OutOfRange {
  unsigned index;
  bool write;
  bool pv_aware;
};

class FenceOutOfRangeTest : public FenceTest, public ::testing::WithParamInterface<OutOfRange> {
 protected:
  void access() {
    const auto [index, write, aware] = GetParam();
    if (aware) rd(*v, kPvinfoMagic, 8);
    if (write) {
      wr(*v, fence_off(index), 0xFFFFFFFFFFFFFFFFu, 8);
    } else {
      EXPECT_EQ(rd(*v, fence_off(index), 8), 0u);
    }
  }
};

TEST_P(FenceOutOfRangeTest, IsRefusedAndCounted) {
  access();
  EXPECT_EQ(v->counters().attacks[GuestAttack::FenceOutOfRange], 1u);
  EXPECT_EQ(nonzero_host_fences(), 0u) << "must not reach any host fence";
  EXPECT_EQ(v->vregs().read(fence_off(GetParam().index), 8), 0u) << "must not be stored either";
  EXPECT_EQ(rd(*v, fence_off(GetParam().index), 8), 0u);
}

TEST_P(FenceOutOfRangeTest, FailsafeOnlyForUnawareGuest) {
  access();
  if (GetParam().pv_aware) {
    EXPECT_FALSE(v->failsafe());
    EXPECT_EQ(failsafe_events(), 0u);
  } else {
    EXPECT_EQ(v->failsafe_reason(), FailsafeReason::UnsupportedGuest);
    ASSERT_EQ(failsafe_events(), 1u);
    const auto& e = std::get<FailsafeEvent>(events.at(0));
    EXPECT_EQ(e.vgpu, v->id());
    EXPECT_EQ(e.reason, FailsafeReason::UnsupportedGuest);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, FenceOutOfRangeTest,
                         ::testing::Values(OutOfRange{4, true, false}, OutOfRange{4, false, false},
                                           OutOfRange{31, true, false}, OutOfRange{31, false, false},
                                           OutOfRange{4, true, true}, OutOfRange{31, false, true}),
                         [](const auto& tp) {
                           const OutOfRange& p = tp.param;
                           return "Fence" + std::to_string(p.index) + (p.write ? "Write" : "Read") +
                                  (p.pv_aware ? "PvAware" : "Unaware");
                         });

// An out-of-range 4-byte access is refused the same way as a whole register.
TEST_F(FenceTest, OutOfRangeHalfIsRefused) {
  rd(*v, kPvinfoMagic);
  wr(*v, fence_off(4) + 4, 0x1234, 4);
  EXPECT_EQ(rd(*v, fence_off(4) + 4, 4), 0u);
  EXPECT_EQ(v->counters().attacks[GuestAttack::FenceOutOfRange], 2u);
  EXPECT_EQ(nonzero_host_fences(), 0u);
}

// ---- Lifecycle -------------------------------------------------------------------------------------

TEST_F(FenceTest, ResetClearsHostAndGuestFences) {
  for (unsigned i = 0; i < 4; ++i) wr(*v, fence_off(i), 0x7001 + i, 8);
  ASSERT_NE(nonzero_host_fences(), 0u);
  v->reset();
  EXPECT_EQ(nonzero_host_fences(), 0u);
  for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(rd(*v, fence_off(i), 8), 0u) << "fence " << i;
}

TEST_F(FenceTest, DestroyClearsHostFences) {
  Vgpu& keep = create();
  wr(keep, fence_off(1), 0x9001, 8);
  for (unsigned i = 0; i < 4; ++i) wr(*v, fence_off(i), 0x7001 + i, 8);
  const uint32_t id = v->id();
  v = nullptr;
  ASSERT_TRUE(gpu->destroy_vgpu(id));
  EXPECT_EQ(nonzero_host_fences(), 1ull << keep.resources().fences[1]) << "only the survivor's fence";
  // A new vGPU that gets the released registers starts from clear fences.
  Vgpu& fresh = create();
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(gpu->host_fence(fresh.resources().fences[i]), 0u);
    EXPECT_EQ(rd(fresh, fence_off(i), 8), 0u);
  }
}

}  // namespace
}  // namespace vgd::test
