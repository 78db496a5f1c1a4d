// The hostile-guest harness (docs/guest-attacks.md): an attacker vGPU driven by raw MMIO, a
// neighbour with a live guest, framebuffer, fence and lit pipe, and the checks every attack must
// pass: (a) counted exactly, under its own name of the catalogue and nothing else; (b) contained:
// nothing changes on the host, on the neighbour (registers, GGTT, display, interrupts) or in the
// attacker's protected state; (c) survived: the neighbour keeps working and the attacker's next
// legitimate flip shows.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "decode/plane_cache.h"
#include "guest/driver.h"
#include "plane_support.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd::test {

using S = AccessStatus;
inline constexpr uint64_t kM = 1ull << 20;
inline constexpr uint64_t kMagic = 0x4776544776544776;  // PVINFO magic
inline constexpr uint64_t kPv = 0x78000;                // PVINFO page
inline constexpr uint64_t kPipeConfA = 0x70008;         // docs/hardware.md, Pipes
inline constexpr uint32_t kPipeEnable = 1u << 31;
inline uint64_t gtt(Gma a) { return kGtt + a.page() * 8; }

// What an attack may touch: the attacker's vGPU (by MMIO only) and the decoder its consumers
// query; the neighbour only to look at.
struct Ctx {
  Vgpu& a;                    // attacker, id 1
  decode::PlaneCache& cache;  // the attacker's queries (as a ConsumerPort's)
  Vgpu& b;                    // neighbour, id 2
  const guest::Buffer& b_fb;

  S w(uint64_t off, unsigned size, uint64_t v) { return a.write(MmioOffset(off), size, v); }
  S r(uint64_t off, unsigned size, uint64_t& v) { return a.read(MmioOffset(off), size, v); }
  void ok(uint64_t off, uint64_t v, unsigned size = 4) { EXPECT_EQ(w(off, size, v), S::Ok) << std::hex << off; }
  uint64_t rd(uint64_t off, unsigned size = 4) {
    uint64_t v = 0;
    EXPECT_EQ(r(off, size, v), S::Ok);
    return v;
  }
  Gma own() const { return a.resources().aperture.begin; }  // first page of its own slice
  Result query(hw::Plane p = hw::Plane::Primary) { return cache.decode(a.vregs(), p, a.ggtt()); }
};

inline uint64_t all_attacks(const Ctx& c) { return c.a.attacks().total() + c.cache.attacks().total(); }
inline uint64_t attack_count(const Ctx& c, GuestAttack k) { return c.a.attacks()[k] + c.cache.attacks()[k]; }

struct Attack {
  const char* name;
  std::optional<GuestAttack> attack;  // none: informational only (nothing refused)
  uint64_t delta;                     // on that counter; every other one stays
  std::optional<FailsafeReason> failsafe;
  std::function<void(Ctx&)> run;
  std::function<void(Ctx&)> after = nullptr;  // attack-specific aftermath
};
inline void PrintTo(const Attack& a, std::ostream* os) { *os << a.name; }

// Everything of the host and the attacker an attack must not change.
struct Protected {
  std::vector<uint64_t> host_fences;
  std::vector<std::byte> pvinfo_host_half;  // magic .. max_mode of the attacker
  GmRange a_aperture, a_hidden;
  uint64_t avail[3];
  bool operator==(const Protected&) const = default;
};

// Everything of the neighbour: its registers (display, interrupts, PVINFO), its GGTT (guest and
// host views) and what its interrupt line did.
struct Neighbour {
  std::vector<std::byte> regs;
  std::vector<uint64_t> ptes;
  std::vector<uint64_t> host_pages;
  uint64_t interrupts = 0;
  bool operator==(const Neighbour&) const = default;
};

class AttackTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    attacker_ = &create();  // id 1; never touched before the attack (so not PV-aware yet)
    Vgpu& b = create();     // id 2
    cache_ = std::make_unique<decode::PlaneCache>(attacker_->id());
    neighbour_ = std::make_unique<InProcessGuest>(b, gpu->geometry());
    guest::Driver& d = neighbour_->driver();
    ASSERT_EQ(d.probe(), guest::Error::None);
    ASSERT_EQ(d.balloon(), guest::Error::None);
    ASSERT_EQ(d.alloc_buffer(32 * 4096, guest::Placement::Aperture, fb_), guest::Error::None);
    for (uint64_t p = 0; p < 32; ++p) std::memset(d.ram().at(fb_.gpa + p * 4096, 4096), static_cast<int>(0xA0 + p), 4096);
    ASSERT_EQ(d.set_fence(0, 0xF00D0001), guest::Error::None);
    ASSERT_EQ(d.set_display_ready(true), guest::Error::None);
    // Its display: a 64×64 XRGB8888 primary on its framebuffer, interrupts enabled.
    const std::pair<uint64_t, uint32_t> display[] = {
        {hw::irq::ier(hw::Pipe::A), 0xFFFFFFFF},
        {hw::irq::kMaster, hw::irq::kMasterEnable},
        {kPipeConfA, kPipeEnable},
        {hw::trans::kPipeSrc, 63u << 16 | 63u},
        {SmallPrimary::reg(hw::plane::kCtl), kOn | 4u << 24},  // XRGB8888
        {SmallPrimary::reg(hw::plane::kStride), 4},            // 256 bytes
        {SmallPrimary::reg(hw::plane::kSurf), gm32(fb_.gm)}};
    for (auto [off, v] : display) neighbour_->mmio().write(MmioOffset(off), 4, v);
    b.vblank();
    b_shown_ = decode::decode_plane(decode::snapshot(b.vregs(), hw::Pipe::A), hw::Plane::Primary, b.ggtt());
    ASSERT_TRUE(b_shown_.has_value()) << b_shown_.error().reason;
    events.clear();
  }

  Protected snapshot() const;
  Neighbour neighbour() const;
  void expect_neighbour_unharmed();
  // Its next legitimate modeset and flip show: a 64×64 primary on its own first pages.
  void expect_attacker_flips(Ctx& c);
  // The whole check of one attack.
  void check(const Attack& atk);

  Vgpu* attacker_ = nullptr;
  std::unique_ptr<decode::PlaneCache> cache_;
  std::unique_ptr<InProcessGuest> neighbour_;
  guest::Buffer fb_;
  Result b_shown_ = Unexpected(DecodeError{Kind::NoPlane, {}});
};

inline Protected AttackTest::snapshot() const {
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

inline Neighbour AttackTest::neighbour() const {
  const Vgpu& b = neighbour_->vgpu();
  Neighbour n;
  const std::byte* regs = b.vregs().raw(0);
  n.regs.assign(regs, regs + hw::kMmioRegsSize);
  for (const GmRange& r : {b.resources().aperture, b.resources().hidden})
    for (Gma gm = r.begin; gm < r.end(); gm = gm + 4096) {
      n.ptes.push_back(b.ggtt().guest_pte(gm.page()));
      const auto hp = b.ggtt().translate(gm);
      n.host_pages.push_back(hp && !hp->scratch ? hp->offset.value() : ~0ull);
    }
  n.interrupts = b.interrupts_raised();
  return n;
}

inline void AttackTest::expect_neighbour_unharmed() {
  Vgpu& b = neighbour_->vgpu();
  const auto shown = decode::decode_plane(decode::snapshot(b.vregs(), hw::Pipe::A), hw::Plane::Primary, b.ggtt());
  ASSERT_TRUE(shown.has_value()) << shown.error().reason;
  EXPECT_EQ(shown->pages, b_shown_->pages) << "the neighbour's display changed";
  for (uint64_t p = 0; p < 32; ++p) {
    const auto hp = b.ggtt().translate(fb_.gm + p * 4096);
    ASSERT_TRUE(hp && !hp->scratch) << "neighbour page " << p << " lost its mapping";
    EXPECT_EQ(b.ram().host_bytes(hp->offset, 1)[0], static_cast<std::byte>(0xA0 + p));
  }
  EXPECT_EQ(gpu->host_fence(8), 0xF00D0001u);  // its guest fence 0
  EXPECT_EQ(b.attacks().total(), 0u);
  EXPECT_FALSE(b.failsafe());
  // Its guest still works: memory, PVINFO, and a vblank with its interrupt.
  guest::Buffer extra;
  ASSERT_EQ(neighbour_->driver().alloc_buffer(4096, guest::Placement::Hidden, extra), guest::Error::None);
  EXPECT_FALSE(b.ggtt().translate(extra.gm)->scratch);
  EXPECT_EQ(neighbour_->driver().free_buffer(extra), guest::Error::None);
  EXPECT_EQ(neighbour_->mmio().read(MmioOffset(kPv), 8), kMagic);
  EXPECT_TRUE(b.vblank().pipes[0].active);
  EXPECT_EQ(neighbour_->mmio().read(MmioOffset(hw::irq::iir(hw::Pipe::A)), 4) & hw::irq::kVblank, hw::irq::kVblank);
  EXPECT_NE(neighbour_->mmio().read(MmioOffset(hw::irq::kMaster), 4) & hw::irq::master_pipe_bit(hw::Pipe::A), 0u);
}

inline void AttackTest::expect_attacker_flips(Ctx& c) {
  const Gma last = c.a.resources().aperture.end() - 4096;
  EXPECT_EQ(c.w(gtt(last), 8, pte(0x600)), S::Ok);
  EXPECT_FALSE(c.a.ggtt().translate(last)->scratch);
  EXPECT_EQ(c.rd(kPv, 8), kMagic);
  EXPECT_EQ(c.rd(kPv + 0x44), 64 * kM);  // mappable size
  if (c.a.failsafe()) return;             // its display is muted by design (docs/design.md, Failsafe)
  const uint64_t attacks0 = all_attacks(c);
  c.ok(kPipeConfA, 0);  // a modeset starts from a stopped pipe and its own timings
  for (uint64_t off : {hw::trans::kHtotal, hw::trans::kVtotal, hw::trans::kPipeSrc, SmallPrimary::reg(hw::plane::kOffset)})
    c.ok(off, 0);
  SmallPrimary::light(c.a, 1);
  c.ok(SmallPrimary::reg(hw::plane::kSurf), SmallPrimary::surface(c.a, 0));
  EXPECT_TRUE(c.a.vblank().pipes[0].active);
  const Result shown = c.query();
  ASSERT_TRUE(shown.has_value()) << shown.error().reason;
  EXPECT_EQ(shown->base, c.own());
  EXPECT_EQ(shown->pages.front(), MemfdOffset(kFrame0 * kPage));
  EXPECT_EQ(all_attacks(c), attacks0) << "a legitimate modeset and flip counted as an attack";
}

inline void AttackTest::check(const Attack& atk) {
  Ctx c{*attacker_, *cache_, neighbour_->vgpu(), fb_};
  const Protected before = snapshot();
  const Neighbour b_before = neighbour();
  const uint64_t count0 = atk.attack ? attack_count(c, *atk.attack) : 0, all0 = all_attacks(c);

  atk.run(c);

  // (a) counted exactly, by its own counter, and by nothing else.
  if (atk.attack) {
    EXPECT_EQ(attack_count(c, *atk.attack) - count0, atk.delta);
  }
  EXPECT_EQ(all_attacks(c) - all0, atk.attack ? atk.delta : 0);
  // (b) contained.
  EXPECT_TRUE(snapshot() == before) << "host fences, attacker PVINFO, slices or pools changed";
  EXPECT_TRUE(neighbour() == b_before) << "the neighbour's registers, GGTT or interrupts changed";
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
  // (c) survived.
  expect_neighbour_unharmed();
  expect_attacker_flips(c);
}

}  // namespace vgd::test
