// A hostile guest at the MMIO entry point (docs/hardware.md, Hostile guests). Every attack must
// be (a) contained: nothing changes on the host, on a neighbour vGPU or in the vGPU's own
// protected state; (b) counted by its own counter, exactly; and (c) survivable: both the attacker
// and a well-behaved neighbour keep working.
// A hostile guest at the MMIO entry point: the bus, the GGTT, PVINFO and fences
// (docs/guest-attacks.md). The harness (attack_support.h) checks each attack is counted under
// its own name, contained and survived; the display's attacks are in malicious_display_test.cpp.
#include "attack_support.h"

namespace vgd::test {
namespace {

// Layout facts from the reference, as literals.
constexpr uint64_t M = kM;
constexpr uint64_t kDisplayReadyOff = kPv + 0x804, kRsv5Off = kPv + 0x808, kG2vOff = kPv + 0x818;
constexpr uint64_t kDamageCtlOff = kPv + 0x900, kDamageSubmitOff = kPv + 0x904;
constexpr uint64_t kFence = 0x100000;  // guest fence i at kFence + 8·i
constexpr uint64_t kBar0End = 16 * M;  // 8 MiB + (4 GiB / 4 KiB) entries of 8 bytes
constexpr uint64_t kRamFrames = 64 * M / 4096;  // attacker has 64 MiB of RAM

void expect_scratch(const Vgpu& v, Gma gm) {
  auto hp = v.ggtt().translate(gm);
  ASSERT_TRUE(hp.has_value());
  EXPECT_TRUE(hp->scratch) << "GM " << std::hex << gm.value() << " still maps guest RAM";
}
void expect_maps(const Vgpu& v, Gma gm, uint64_t frame) {
  auto hp = v.ggtt().translate(gm);
  ASSERT_TRUE(hp.has_value());
  ASSERT_FALSE(hp->scratch);
  EXPECT_EQ(hp->offset.value(), frame * 4096);
}

std::vector<Attack> attacks() {
  using A = GuestAttack;
  return {
      {"PteIntoNeighboursSlice", A::GgttForeignPte, 2, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.b_fb.gm), 8, pte(0x400)), S::Ok);
         EXPECT_EQ(c.w(gtt(c.b.resources().hidden.begin), 8, pte(0x400)), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.rd(gtt(c.b_fb.gm), 8), 0u) << "the neighbour's entry leaks"; }},
      {"PteIntoHostReservedGm", A::GgttForeignPte, 3, {},
       [](Ctx& c) {
         for (uint64_t gm : {uint64_t{0}, 127 * M, 512 * M})  // host low GM, host high GM
           EXPECT_EQ(c.w(gtt(Gma(gm)), 8, pte(0x400)), S::Ok);
       }},
      {"HalfPteIntoNeighboursSlice", A::GgttForeignPte, 2, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.b_fb.gm), 4, pte(0x400)), S::Ok);
         EXPECT_EQ(c.w(gtt(c.b_fb.gm) + 4, 4, 0), S::Ok);
       }},
      {"PteFrameBeyondGuestRam", A::GgttFrameOutsideRam, 1, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.own()), 8, pte(0x400)), S::Ok);  // a valid mapping first...
         EXPECT_EQ(c.w(gtt(c.own()), 8, pte(kRamFrames)), S::Ok);  // ...then one frame too far
       },
       [](Ctx& c) { expect_scratch(c.a, c.own()); }},
      {"PteFrameBitsAllOnes", A::GgttFrameOutsideRam, 2, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.own()), 8, 0x7FFFFFF001), S::Ok);  // bits 38:12 all set, present
         EXPECT_EQ(c.w(gtt(c.own() + 4096), 8, ~0ull), S::Ok);
       },
       [](Ctx& c) {
         expect_scratch(c.a, c.own());
         expect_scratch(c.a, c.own() + 4096);
       }},
      // Half an entry is never an address: until the other half arrives, the page is scratch.
      {"HalfPteLeftDangling", std::nullopt, 0, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.own()), 8, pte(0x400)), S::Ok);
         EXPECT_EQ(c.w(gtt(c.own()), 4, pte(0x500)), S::Ok);
       },
       [](Ctx& c) {
         expect_scratch(c.a, c.own());
         EXPECT_FALSE(c.a.ggtt().guest_gpa(c.own()).has_value());
       }},
      {"ByteAndWordGttWrites", A::GgttNarrowWrite, 2, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.own()), 8, pte(0x400)), S::Ok);
         EXPECT_EQ(c.w(gtt(c.own()), 1, 0x00), S::Ok);      // would clear the present bit
         EXPECT_EQ(c.w(gtt(c.own()) + 2, 2, 0xFFFF), S::Ok);  // would change the frame
       },
       [](Ctx& c) {
         expect_maps(c.a, c.own(), 0x400);
         EXPECT_EQ(c.rd(gtt(c.own()), 8), pte(0x400));
       }},
      {"OverwritePvinfoMagicAndId", A::PvinfoReadonlyWrite, 3, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(kPv, 8, 0), S::Ok);
         EXPECT_EQ(c.w(kPv + 0x8, 2, 0), S::Ok);   // version_major
         EXPECT_EQ(c.w(kPv + 0xC, 4, 2), S::Ok);   // vgt_id: pretend to be the neighbour
       }},
      {"WidenOwnSliceViaPvinfo", A::PvinfoReadonlyWrite, 5, {},
       [](Ctx& c) {
         const std::pair<uint64_t, uint64_t> writes[] = {
             {0x40, 0}, {0x44, 0xFFFFF000}, {0x48, 512 * M}, {0x4C, 3584 * M}, {0x50, 32}};
         for (auto [field, value] : writes) EXPECT_EQ(c.w(kPv + field, 4, value), S::Ok);
       },
       [](Ctx& c) {
         EXPECT_EQ(c.a.ggtt().aperture().size, 64 * M);
         EXPECT_EQ(c.a.ggtt().hidden().size, 384 * M);
         EXPECT_FALSE(c.a.ggtt().owns(c.a.resources().aperture.end()));
         // A freshly loaded guest driver still learns the original slices.
         InProcessGuest fresh(c.a, GpuGeometry{});
         guest::Driver& drv = fresh.driver();
         ASSERT_EQ(drv.probe(), guest::Error::None);
         EXPECT_EQ(drv.resources().mappable, c.a.resources().aperture);
         EXPECT_EQ(drv.resources().mappable.size, 64 * M);
         EXPECT_EQ(drv.resources().fence_num, 4u);
       }},
      {"WriteToRsv5", A::PvinfoRsv5Write, 4, FailsafeReason::InsufficientResource,
       [](Ctx& c) {
         for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(c.w(kRsv5Off + 4 * i, 4, 0xFFFFFFFF), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.vregs().read(kRsv5Off, 8), 0u) << "rsv5 must not be stored"; }},
      {"DisplayReadyGarbage", A::PvinfoDisplayReadyInvalid, 3, {},
       [](Ctx& c) {
         for (uint64_t v : {2ull, 0x100ull, 0xFFFFFFFFull}) EXPECT_EQ(c.w(kDisplayReadyOff, 4, v), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.display_ready(), 0u); }},
      {"WideWriteOverDisplayReady", A::PvinfoReadonlyWrite, 1, {},
       [](Ctx& c) { EXPECT_EQ(c.w(kPv + 0x800, 8, 1ull << 32), S::Ok); },
       [](Ctx& c) { EXPECT_EQ(c.a.display_ready(), 0u); }},
      {"InvalidG2vCodes", A::PvinfoG2vInvalid, 4, {},
       [](Ctx& c) {
         for (uint64_t code : {0ull, 8ull, 9ull, 0xFFFFFFFFull}) EXPECT_EQ(c.w(kG2vOff, 4, code), S::Ok);
       },
       [](Ctx& c) {  // 1 (legacy) and 2..7 are accepted silently
         for (uint64_t code = 1; code <= 7; ++code) EXPECT_EQ(c.w(kG2vOff, 4, code), S::Ok);
         EXPECT_EQ(c.a.attacks()[GuestAttack::PvinfoG2vInvalid], 4u);
       }},
      {"FenceBeyondAllocationPvAware", A::FenceOutOfRange, 3, {},
       [](Ctx& c) {
         EXPECT_EQ(c.rd(kPv, 8), kMagic);  // now PV-aware
         EXPECT_EQ(c.w(kFence + 8 * 4, 8, 0xBAD1), S::Ok);
         EXPECT_EQ(c.w(kFence + 8 * 31 + 4, 4, 0xBAD2), S::Ok);
         EXPECT_EQ(c.rd(kFence + 8 * 4, 8), 0u);
       }},
      {"FenceBeyondAllocationNotPvAware", A::FenceOutOfRange, 1, FailsafeReason::UnsupportedGuest,
       [](Ctx& c) { EXPECT_EQ(c.w(kFence + 8 * 4, 8, 0xBAD1), S::Ok); }},
      {"MisalignedAccesses", A::MmioMisaligned, 4, {},
       [](Ctx& c) {
         uint64_t v = 1;
         EXPECT_EQ(c.r(kPv + 2, 4, v), S::Misaligned);
         EXPECT_EQ(v, 0u);
         EXPECT_EQ(c.w(gtt(c.own()) + 4, 8, pte(0x400)), S::Misaligned);
         EXPECT_EQ(c.w(kPv + 0x831, 2, 0), S::Misaligned);
         EXPECT_EQ(c.w(kFence + 4, 8, 0xBAD), S::Misaligned);
       }},
      {"OddAndOversizeAccesses", A::MmioBadSize, 5, {},
       [](Ctx& c) {
         uint64_t v = 0;
         EXPECT_EQ(c.w(kPv, 0, 0), S::BadSize);
         EXPECT_EQ(c.w(gtt(c.own()), 3, 0x401), S::BadSize);
         EXPECT_EQ(c.w(kFence, 16, 0xBAD), S::BadSize);
         EXPECT_EQ(c.r(kPv, 5, v), S::BadSize);
         EXPECT_EQ(c.w(gtt(c.own()), 0xFFFFFFFF, 0x401), S::BadSize);
       }},
      {"BeyondBar0", A::MmioBeyondBar, 4, {},
       [](Ctx& c) {
         uint64_t v = 0;
         EXPECT_EQ(c.w(kBar0End, 8, pte(0x400)), S::OutOfRange);
         EXPECT_EQ(c.r(kBar0End, 4, v), S::OutOfRange);
         EXPECT_EQ(c.w(kBar0End + 4 * M, 4, 0), S::OutOfRange);
         EXPECT_EQ(c.w(~0ull - 7, 8, 0), S::OutOfRange);
       }},
      {"UnbackedHole", A::MmioUnbacked, 4, {},
       [](Ctx& c) {
         uint64_t v = 0;
         EXPECT_EQ(c.w(2 * M, 4, 1), S::Unbacked);
         EXPECT_EQ(c.r(5 * M, 8, v), S::Unbacked);
         EXPECT_EQ(c.w(kGtt - 8, 8, pte(0x400)), S::Unbacked);
         EXPECT_EQ(c.r(kGtt - 1, 1, v), S::Unbacked);
       }},
      // Damage hints (docs/hardware.md, Damage hints): a refused submit damages what it named.
      {"DamageCtlReservedBits", A::DamageCtlReserved, 2, {},
       [](Ctx& c) {
         for (uint64_t v : {2ull, 0x80000001ull}) EXPECT_EQ(c.w(kDamageCtlOff, 4, v), S::Ok);
       },
       [](Ctx& c) { EXPECT_FALSE(c.a.display().damage_hints()) << "neither value turned hints on"; }},
      {"DamageSubmitGarbage", A::DamageSubmitInvalid, 3, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(kDamageCtlOff, 4, 1), S::Ok);
         for (uint64_t v : {17ull, 3ull << 12, 1ull << 20}) EXPECT_EQ(c.w(kDamageSubmitOff, 4, v), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.counters().damage_submits, 3u); }},
      {"FloodOfForeignPtes", A::GgttForeignPte, 100000, {},
       [](Ctx& c) {
         const uint64_t pages = c.b_fb.size / 4096;
         for (uint64_t i = 0; i < 100000; ++i)
           if (c.w(gtt(c.b_fb.gm + (i % pages) * 4096), 8, pte(i % kRamFrames)) != S::Ok) ADD_FAILURE() << i;
       }},
  };
}

class MaliciousGuest : public AttackTest, public ::testing::WithParamInterface<Attack> {};

TEST_P(MaliciousGuest, IsCountedContainedAndSurvived) { check(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Attacks, MaliciousGuest, ::testing::ValuesIn(attacks()),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace vgd::test
