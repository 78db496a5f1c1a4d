// A hostile guest at the MMIO entry point (docs/hardware.md, Hostile guests). Every attack must
// be (a) contained: nothing changes on the host, on a neighbour vGPU or in the vGPU's own
// protected state; (b) counted by its own counter, exactly; and (c) survivable: both the attacker
// and a well-behaved neighbour keep working.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <variant>
#include <vector>

#include "guest/driver.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd {
namespace {

using S = AccessStatus;
constexpr uint64_t M = 1ull << 20;
// Layout facts from the reference, as literals.
constexpr uint64_t kMagic = 0x4776544776544776;  // PVINFO magic
constexpr uint64_t kPv = 0x78000;                // PVINFO page
constexpr uint64_t kDisplayReadyOff = kPv + 0x804, kRsv5Off = kPv + 0x808, kG2vOff = kPv + 0x818;
constexpr uint64_t kFence = 0x100000;  // guest fence i at kFence + 8·i
constexpr uint64_t kGtt = 8 * M;       // first GTT entry
constexpr uint64_t kBar0End = 16 * M;  // 8 MiB + (4 GiB / 4 KiB) entries of 8 bytes
constexpr uint64_t kRamFrames = 64 * M / 4096;  // attacker has 64 MiB of RAM
constexpr uint64_t kPipeConfA = 0x70008;        // §3.2
constexpr uint32_t kPipeEnable = 1u << 31;

uint64_t gtt(Gma a) { return kGtt + a.page() * 8; }
constexpr uint64_t pte(uint64_t frame) { return frame << 12 | 1; }

// What an attack may touch: the attacker's vGPU (by MMIO only) and, to check, the neighbour.
struct Ctx {
  Vgpu& a;  // attacker
  Vgpu& b;  // neighbour with a guest and a framebuffer
  const guest::Buffer& b_fb;

  S w(uint64_t off, unsigned size, uint64_t v) { return a.write(MmioOffset(off), size, v); }
  S r(uint64_t off, unsigned size, uint64_t& v) { return a.read(MmioOffset(off), size, v); }
  uint64_t rd(uint64_t off, unsigned size) {
    uint64_t v = 0;
    EXPECT_EQ(r(off, size, v), S::Ok);
    return v;
  }
  Gma own() const { return a.resources().aperture.begin; }  // first page of its own slice
};

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

using Counter = std::function<uint64_t(const Vgpu&)>;
Counter dev(uint64_t VgpuCounters::*m) { return [m](const Vgpu& v) { return v.counters().*m; }; }
Counter bus(uint64_t MmioStats::*m) { return [m](const Vgpu& v) { return v.mmio_stats().*m; }; }
uint64_t misbehaviour(const Vgpu& v) { return v.counters().refused() + v.mmio_stats().refused(); }

struct Attack {
  const char* name;
  Counter counter;
  uint64_t delta;           // on counter
  uint64_t refused_delta;   // on all misbehaviour counters together (0 for informational ones)
  std::optional<FailsafeReason> failsafe;
  std::function<void(Ctx&)> run;
  std::function<void(Ctx&)> after = nullptr;  // attack-specific aftermath
};
void PrintTo(const Attack& a, std::ostream* os) { *os << a.name; }

std::vector<Attack> attacks() {
  using C = VgpuCounters;
  using B = MmioStats;
  return {
      {"PteIntoNeighboursSlice", dev(&C::pte_foreign), 2, 2, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.b_fb.gm), 8, pte(0x400)), S::Ok);
         EXPECT_EQ(c.w(gtt(c.b.resources().hidden.begin), 8, pte(0x400)), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.rd(gtt(c.b_fb.gm), 8), 0u) << "the neighbour's entry leaks"; }},
      {"PteIntoHostReservedGm", dev(&C::pte_foreign), 3, 3, {},
       [](Ctx& c) {
         for (uint64_t gm : {uint64_t{0}, 127 * M, 512 * M})  // host low GM, host high GM
           EXPECT_EQ(c.w(gtt(Gma(gm)), 8, pte(0x400)), S::Ok);
       }},
      {"HalfPteIntoNeighboursSlice", dev(&C::pte_foreign), 2, 2, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.b_fb.gm), 4, pte(0x400)), S::Ok);
         EXPECT_EQ(c.w(gtt(c.b_fb.gm) + 4, 4, 0), S::Ok);
       }},
      {"PteFrameBeyondGuestRam", dev(&C::pte_bad_frame), 1, 1, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.own()), 8, pte(0x400)), S::Ok);  // a valid mapping first...
         EXPECT_EQ(c.w(gtt(c.own()), 8, pte(kRamFrames)), S::Ok);  // ...then one frame too far
       },
       [](Ctx& c) { expect_scratch(c.a, c.own()); }},
      {"PteFrameBitsAllOnes", dev(&C::pte_bad_frame), 2, 2, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.own()), 8, 0x7FFFFFF001), S::Ok);  // bits 38:12 all set, present
         EXPECT_EQ(c.w(gtt(c.own() + 4096), 8, ~0ull), S::Ok);
       },
       [](Ctx& c) {
         expect_scratch(c.a, c.own());
         expect_scratch(c.a, c.own() + 4096);
       }},
      // Half an entry is never an address: until the other half arrives, the page is scratch.
      {"HalfPteLeftDangling", dev(&C::pte_half_pending), 1, 0, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.own()), 8, pte(0x400)), S::Ok);
         EXPECT_EQ(c.w(gtt(c.own()), 4, pte(0x500)), S::Ok);
       },
       [](Ctx& c) {
         expect_scratch(c.a, c.own());
         EXPECT_FALSE(c.a.ggtt().guest_gpa(c.own()).has_value());
       }},
      {"ByteAndWordGttWrites", dev(&C::pte_bad_size), 2, 2, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(gtt(c.own()), 8, pte(0x400)), S::Ok);
         EXPECT_EQ(c.w(gtt(c.own()), 1, 0x00), S::Ok);      // would clear the present bit
         EXPECT_EQ(c.w(gtt(c.own()) + 2, 2, 0xFFFF), S::Ok);  // would change the frame
       },
       [](Ctx& c) {
         expect_maps(c.a, c.own(), 0x400);
         EXPECT_EQ(c.rd(gtt(c.own()), 8), pte(0x400));
       }},
      {"OverwritePvinfoMagicAndId", dev(&C::pvinfo_write_dropped), 3, 3, {},
       [](Ctx& c) {
         EXPECT_EQ(c.w(kPv, 8, 0), S::Ok);
         EXPECT_EQ(c.w(kPv + 0x8, 2, 0), S::Ok);   // version_major
         EXPECT_EQ(c.w(kPv + 0xC, 4, 2), S::Ok);   // vgt_id: pretend to be the neighbour
       }},
      {"WidenOwnSliceViaPvinfo", dev(&C::pvinfo_write_dropped), 5, 5, {},
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
      {"WriteToRsv5", dev(&C::pvinfo_rsv5_write), 4, 4, FailsafeReason::InsufficientResource,
       [](Ctx& c) {
         for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(c.w(kRsv5Off + 4 * i, 4, 0xFFFFFFFF), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.vregs().read(kRsv5Off, 8), 0u) << "rsv5 must not be stored"; }},
      {"DisplayReadyGarbage", dev(&C::display_ready_invalid), 3, 3, {},
       [](Ctx& c) {
         for (uint64_t v : {2ull, 0x100ull, 0xFFFFFFFFull}) EXPECT_EQ(c.w(kDisplayReadyOff, 4, v), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.display_ready(), 0u); }},
      {"WideWriteOverDisplayReady", dev(&C::pvinfo_write_dropped), 1, 1, {},
       [](Ctx& c) { EXPECT_EQ(c.w(kPv + 0x800, 8, 1ull << 32), S::Ok); },
       [](Ctx& c) { EXPECT_EQ(c.a.display_ready(), 0u); }},
      {"InvalidG2vCodes", dev(&C::g2v_invalid), 4, 4, {},
       [](Ctx& c) {
         for (uint64_t code : {0ull, 8ull, 9ull, 0xFFFFFFFFull}) EXPECT_EQ(c.w(kG2vOff, 4, code), S::Ok);
       },
       [](Ctx& c) {  // 1 (legacy) and 2..7 are accepted silently
         for (uint64_t code = 1; code <= 7; ++code) EXPECT_EQ(c.w(kG2vOff, 4, code), S::Ok);
         EXPECT_EQ(c.a.counters().g2v_invalid, 4u);
       }},
      {"FenceBeyondAllocationPvAware", dev(&C::fence_out_of_range), 3, 3, {},
       [](Ctx& c) {
         EXPECT_EQ(c.rd(kPv, 8), kMagic);  // now PV-aware
         EXPECT_EQ(c.w(kFence + 8 * 4, 8, 0xBAD1), S::Ok);
         EXPECT_EQ(c.w(kFence + 8 * 31 + 4, 4, 0xBAD2), S::Ok);
         EXPECT_EQ(c.rd(kFence + 8 * 4, 8), 0u);
       }},
      {"FenceBeyondAllocationNotPvAware", dev(&C::fence_out_of_range), 1, 1, FailsafeReason::UnsupportedGuest,
       [](Ctx& c) { EXPECT_EQ(c.w(kFence + 8 * 4, 8, 0xBAD1), S::Ok); }},
      {"MisalignedAccesses", bus(&B::misaligned), 4, 4, {},
       [](Ctx& c) {
         uint64_t v = 1;
         EXPECT_EQ(c.r(kPv + 2, 4, v), S::Misaligned);
         EXPECT_EQ(v, 0u);
         EXPECT_EQ(c.w(gtt(c.own()) + 4, 8, pte(0x400)), S::Misaligned);
         EXPECT_EQ(c.w(kPv + 0x831, 2, 0), S::Misaligned);
         EXPECT_EQ(c.w(kFence + 4, 8, 0xBAD), S::Misaligned);
       }},
      {"OddAndOversizeAccesses", bus(&B::bad_size), 5, 5, {},
       [](Ctx& c) {
         uint64_t v = 0;
         EXPECT_EQ(c.w(kPv, 0, 0), S::BadSize);
         EXPECT_EQ(c.w(gtt(c.own()), 3, 0x401), S::BadSize);
         EXPECT_EQ(c.w(kFence, 16, 0xBAD), S::BadSize);
         EXPECT_EQ(c.r(kPv, 5, v), S::BadSize);
         EXPECT_EQ(c.w(gtt(c.own()), 0xFFFFFFFF, 0x401), S::BadSize);
       }},
      {"BeyondBar0", bus(&B::out_of_range), 4, 4, {},
       [](Ctx& c) {
         uint64_t v = 0;
         EXPECT_EQ(c.w(kBar0End, 8, pte(0x400)), S::OutOfRange);
         EXPECT_EQ(c.r(kBar0End, 4, v), S::OutOfRange);
         EXPECT_EQ(c.w(kBar0End + 4 * M, 4, 0), S::OutOfRange);
         EXPECT_EQ(c.w(~0ull - 7, 8, 0), S::OutOfRange);
       }},
      {"UnbackedHole", bus(&B::unbacked), 4, 4, {},
       [](Ctx& c) {
         uint64_t v = 0;
         EXPECT_EQ(c.w(2 * M, 4, 1), S::Unbacked);
         EXPECT_EQ(c.r(5 * M, 8, v), S::Unbacked);
         EXPECT_EQ(c.w(kGtt - 8, 8, pte(0x400)), S::Unbacked);
         EXPECT_EQ(c.r(kGtt - 1, 1, v), S::Unbacked);
       }},
      // Display limits (docs/design.md "Display"): GVTg_V5_8 shows at most 1024x768, and the
      // vblank timer runs at 24..240 Hz whatever the timings say.
      {"ModeBeyondTheTypesMaximum", dev(&C::mode_too_large), 1, 1, {},
       [](Ctx& c) {
         test::program_mode(c.a, hw::Pipe::A, 1920, 1080, 60);
         EXPECT_EQ(c.w(kPipeConfA, 4, kPipeEnable), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.rd(kPipeConfA, 4), kPipeEnable) << "enable bit stored, pipe not lit"; }},
      {"RefreshOfOneHertz", dev(&C::refresh_clamped), 1, 1, {},
       [](Ctx& c) {
         test::program_mode(c.a, hw::Pipe::A, 800, 600, 1);
         EXPECT_EQ(c.w(kPipeConfA, 4, kPipeEnable), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.display().refresh_mhz(), 24'000u); }},
      {"RefreshOfAHundredKilohertz", dev(&C::refresh_clamped), 1, 1, {},
       [](Ctx& c) {
         test::program_mode(c.a, hw::Pipe::A, 800, 600, 100'000);
         EXPECT_EQ(c.w(kPipeConfA, 4, kPipeEnable), S::Ok);
       },
       [](Ctx& c) { EXPECT_EQ(c.a.display().refresh_mhz(), 240'000u); }},
      {"FloodOfForeignPtes", dev(&C::pte_foreign), 100000, 100000, {},
       [](Ctx& c) {
         const uint64_t pages = c.b_fb.size / 4096;
         for (uint64_t i = 0; i < 100000; ++i)
           if (c.w(gtt(c.b_fb.gm + (i % pages) * 4096), 8, pte(i % kRamFrames)) != S::Ok) ADD_FAILURE() << i;
       }},
  };
}

// Everything an attack must not change.
struct Protected {
  std::vector<uint64_t> host_fences;
  std::vector<std::byte> pvinfo_host_half;  // magic .. fence_num of the attacker
  GmRange a_aperture, a_hidden;
  uint64_t avail[3];
  bool operator==(const Protected&) const = default;
};

class MaliciousGuest : public test::GpuTest, public ::testing::WithParamInterface<Attack> {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    attacker_ = &create();  // id 1; never touched before the attack (so not PV-aware yet)
    Vgpu& b = create();     // id 2
    neighbour_ = std::make_unique<InProcessGuest>(b, gpu->geometry());
    guest::Driver& d = neighbour_->driver();
    ASSERT_EQ(d.probe(), guest::Error::None);
    ASSERT_EQ(d.balloon(), guest::Error::None);
    ASSERT_EQ(d.alloc_buffer(32 * 4096, guest::Placement::Aperture, fb_), guest::Error::None);
    for (uint64_t p = 0; p < 32; ++p) std::memset(d.ram().at(fb_.gpa + p * 4096, 4096), static_cast<int>(0xA0 + p), 4096);
    ASSERT_EQ(d.set_fence(0, 0xF00D0001), guest::Error::None);
    ASSERT_EQ(d.set_display_ready(true), guest::Error::None);
    events.clear();
  }

  Protected snapshot() const {
    Protected p;
    for (uint32_t i = 0; i < 32; ++i) p.host_fences.push_back(gpu->host_fence(i));
    const std::byte* pv = attacker_->vregs().raw(kPv);  // host-side look, not a trapped read
    p.pvinfo_host_half.assign(pv, pv + 0x60);
    p.a_aperture = attacker_->ggtt().aperture();
    p.a_hidden = attacker_->ggtt().hidden();
    const auto& part = gpu->partitioner();
    p.avail[0] = part.available(Resource::Aperture);
    p.avail[1] = part.available(Resource::Hidden);
    p.avail[2] = part.available(Resource::Fence);
    return p;
  }

  void expect_neighbour_unharmed() {
    Vgpu& b = neighbour_->vgpu();
    for (uint64_t p = 0; p < 32; ++p) {
      auto hp = b.ggtt().translate(fb_.gm + p * 4096);
      ASSERT_TRUE(hp && !hp->scratch) << "neighbour page " << p << " lost its mapping";
      EXPECT_EQ(hp->offset.value(), fb_.gpa.value() + p * 4096);
      EXPECT_EQ(b.ram().host_bytes(hp->offset, 1)[0], static_cast<std::byte>(0xA0 + p));
    }
    EXPECT_EQ(gpu->host_fence(8), 0xF00D0001u);  // its guest fence 0
    EXPECT_EQ(misbehaviour(b), 0u);
    EXPECT_FALSE(b.failsafe());
    EXPECT_EQ(b.display_ready(), 1u);
    // Its guest still works.
    guest::Buffer extra;
    ASSERT_EQ(neighbour_->driver().alloc_buffer(4096, guest::Placement::Hidden, extra), guest::Error::None);
    EXPECT_FALSE(b.ggtt().translate(extra.gm)->scratch);
    EXPECT_EQ(neighbour_->driver().free_buffer(extra), guest::Error::None);
    EXPECT_EQ(neighbour_->mmio().read(MmioOffset(kPv), 8), kMagic);
  }

  void expect_attacker_still_served(Ctx& c) {
    const Gma last = c.a.resources().aperture.end() - 4096;
    EXPECT_EQ(c.w(gtt(last), 8, pte(0x600)), S::Ok);
    expect_maps(c.a, last, 0x600);
    EXPECT_EQ(c.rd(kPv, 8), kMagic);
    EXPECT_EQ(c.rd(kPv + 0x44, 4), 64 * M);  // mappable size
  }

  Vgpu* attacker_ = nullptr;
  std::unique_ptr<InProcessGuest> neighbour_;
  guest::Buffer fb_;
};

TEST_P(MaliciousGuest, IsContainedCountedAndSurvived) {
  const Attack& atk = GetParam();
  Ctx c{*attacker_, neighbour_->vgpu(), fb_};
  const Protected before = snapshot();
  const uint64_t count0 = atk.counter(c.a), refused0 = misbehaviour(c.a);

  atk.run(c);

  // (b) counted exactly, by its own counter, and by nothing else.
  EXPECT_EQ(atk.counter(c.a) - count0, atk.delta);
  EXPECT_EQ(misbehaviour(c.a) - refused0, atk.refused_delta);
  // (a) contained.
  EXPECT_TRUE(snapshot() == before) << "host fences, attacker PVINFO, slices or pools changed";
  EXPECT_EQ(c.a.failsafe_reason(), atk.failsafe);
  if (atk.failsafe) {
    ASSERT_EQ(events.size(), 1u);
    const auto* f = std::get_if<FailsafeEvent>(&events[0]);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->vgpu, 1u);
    EXPECT_EQ(f->reason, *atk.failsafe);
  } else {
    EXPECT_TRUE(events.empty()) << "the attack raised a management event";
  }
  if (atk.after) atk.after(c);
  expect_neighbour_unharmed();
  // (c) survived.
  expect_attacker_still_served(c);
}

INSTANTIATE_TEST_SUITE_P(Attacks, MaliciousGuest, ::testing::ValuesIn(attacks()),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace vgd
