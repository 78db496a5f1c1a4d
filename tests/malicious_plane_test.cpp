// A hostile guest's planes, as its consumers' queries decode them (docs/guest-attacks.md;
// docs/hardware.md, Decoding): each refusal counted once per distinct programming, however often
// it is queried; and PTEs rewritten while a consumer queries in a loop. Harness: attack_support.h.
#include <atomic>
#include <thread>

#include "attack_support.h"
#include "util/work_lock.h"

namespace vgd::test {
namespace {

using hw::Pipe;
using hw::Plane;
constexpr uint64_t kSurfA = hw::plane::reg(Pipe::A, 1, hw::plane::kSurf);
uint64_t pri(uint64_t r) { return hw::plane::reg(Pipe::A, 1, r); }
uint64_t spr(uint64_t r) { return hw::plane::reg(Pipe::A, 2, r); }

void flip(Ctx& c, uint64_t reg, uint32_t surface) {
  c.ok(reg, surface);
  c.a.vblank();  // a synchronous flip latches here
}
// The attacker's 64×64 XRGB8888 primary on its own first 4 pages, shown.
void show(Ctx& c) {
  SmallPrimary::light(c.a, 1);
  flip(c, kSurfA, SmallPrimary::surface(c.a, 0));
  ASSERT_TRUE(c.query().has_value());
}
// Queried twice (a consumer polls every frame): the same refusal, counted once.
void refused(Ctx& c, Kind kind, std::string_view why, Plane p = Plane::Primary) {
  expect_error(c.query(p), kind, why);
  expect_error(c.query(p), kind, why);
}

std::vector<Attack> attacks() {
  using A = GuestAttack;
  return {
      {"SurfacesInForeignGm", A::PlaneForeignBase, 3, {},
       [](Ctx& c) {
         show(c);
         flip(c, kSurfA, gm32(c.b_fb.gm));  // the neighbour's live framebuffer
         refused(c, Kind::Fault, "outside the vGPU's graphics memory");
         flip(c, kSurfA, 0x1000);  // the host's GM
         refused(c, Kind::Fault, "outside the vGPU's graphics memory");
         c.ok(hw::cursor::kCntr, 0x27);
         flip(c, hw::cursor::kBase, gm32(c.b.resources().hidden.begin));
         refused(c, Kind::Fault, "outside the vGPU's graphics memory", Plane::Cursor);
       }},
      // Through the aperture into the next slice: the slices of vGPUs 1 and 2 touch.
      {"PlanesRunningIntoTheNeighboursAperture", A::PlaneCrossesSlice, 2, {},
       [](Ctx& c) {
         ASSERT_EQ(c.a.resources().aperture.end(), c.b.resources().aperture.begin);
         show(c);
         const Gma near_end = c.a.resources().aperture.end() - 2 * kPage;  // 2 of its 4 pages are B's
         for (uint64_t k = 0; k < 2; ++k) c.ok(gtt(near_end + k * kPage), pte(kFrame0 + k), 8);
         flip(c, kSurfA, gm32(near_end));
         refused(c, Kind::Fault, "runs past the end of the aperture slice");
         // The largest stride over the largest mode, from the slice's middle: 48 MiB.
         c.ok(hw::trans::kPipeSrc, 1023u << 16 | 767);
         c.ok(pri(hw::plane::kStride), 1023);
         flip(c, kSurfA, gm32(c.own() + 32 * kM));
         refused(c, Kind::Fault, "runs past the end of the aperture slice");
       }},
      {"PlaneOverUnmappedPages", A::PlaneUnmappedPage, 1, {},
       [](Ctx& c) {
         show(c);
         flip(c, kSurfA, gm32(c.own() + 16 * kPage));
         refused(c, Kind::Fault, "is not mapped to guest RAM");
       }},
      {"UnsupportedPixelFormat", A::PlaneBadFormat, 1, {},
       [](Ctx& c) {
         show(c);
         c.ok(pri(hw::plane::kCtl), kOn | 6u << 24);  // FP16
         refused(c, Kind::Invalid, "unsupported pixel format code 6");
       }},
      {"ReservedTilingCode", A::PlaneBadTiling, 1, {},
       [](Ctx& c) {
         show(c);
         c.ok(pri(hw::plane::kCtl), kOn | 4u << 24 | 2u << 10);
         refused(c, Kind::Invalid, "reserved tiling code 2");
       }},
      {"CursorModeGarbage", A::CursorBadMode, 1, {},
       [](Ctx& c) {
         show(c);
         c.ok(hw::cursor::kCntr, 0x25);
         flip(c, hw::cursor::kBase, SmallPrimary::surface(c.a, 0));
         refused(c, Kind::Invalid, "unsupported cursor mode 0x25", Plane::Cursor);
       }},
      {"StrideNarrowerThanARow", A::PlaneStrideTooSmall, 1, {},
       [](Ctx& c) {
         show(c);
         c.ok(pri(hw::plane::kStride), 1);  // 64 bytes for 256-byte rows
         refused(c, Kind::Invalid, "rows would overlap");
       }},
      {"WindowOutsideTheSurface", A::PlaneWindowOutside, 1, {},
       [](Ctx& c) {
         show(c);
         c.ok(pri(hw::plane::kOffset), 1);  // x = 1: the window's last column is past the row
         refused(c, Kind::Invalid, "leaves the 64x64-pixel surface");
       }},
      {"SpriteLargerThanThePipe", A::SpriteLargerThanPipe, 1, {},
       [](Ctx& c) {
         show(c);
         c.ok(spr(hw::plane::kCtl), kOn | 4u << 24);
         c.ok(spr(hw::plane::kStride), 8);
         c.ok(spr(hw::plane::kSize), 127u << 16 | 127);
         flip(c, spr(hw::plane::kSurf), SmallPrimary::surface(c.a, 0));
         refused(c, Kind::Invalid, "128x128 pixels do not fit the 64x64 pipe source", Plane::Sprite);
       }},
      {"ZeroStride", A::PlaneZeroSize, 1, {},
       [](Ctx& c) {
         show(c);
         c.ok(pri(hw::plane::kStride), 0);
         refused(c, Kind::Invalid, "zero-sized surface");
       }},
  };
}

class MaliciousPlane : public AttackTest, public ::testing::WithParamInterface<Attack> {};

TEST_P(MaliciousPlane, IsCountedContainedAndSurvived) { check(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Attacks, MaliciousPlane, ::testing::ValuesIn(attacks()),
                         [](const auto& p) { return std::string(p.param.name); });

// The guest rewrites its shown plane's PTEs, one trap each, between two sets of its own frames
// (and throws one PTE at the neighbour's slice per round) while a consumer queries in a loop,
// both under the vGPU's lock as in the daemon (docs/design.md, Ownership). A query sees the
// GGTT between two traps: every page of every answer is that page's old or new frame, holding
// what the guest wrote there, never another page, a scratch page or foreign memory.
class GgttRace : public AttackTest {};

TEST_F(GgttRace, QueriesSeeOldOrNewFramesOnly) {
  Vgpu& a = *attacker_;
  WorkLock lock;
  constexpr uint64_t kOld = kFrame0, kNew = 0x900, kRounds = 400, kQueries = 200;
  const auto fill = [&](uint64_t frame, int v) { std::memset(a.ram().host_bytes(MemfdOffset(frame * kPage), kPage).data(), v, kPage); };
  for (uint64_t k = 0; k < 4; ++k) fill(kOld + k, static_cast<int>(0x10 + k)), fill(kNew + k, static_cast<int>(0x50 + k));
  Ctx c{a, *cache_, neighbour_->vgpu(), fb_};
  {
    const Locked lk(lock);
    show(c);
  }
  const Gma own = c.own(), foreign = fb_.gm;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> answers{0};
  uint64_t rounds = 0;
  // At least kRounds rewrites, and on until the consumer has queried kQueries times meanwhile.
  std::thread writer([&] {
    for (; rounds < kRounds || answers.load() < kQueries; ++rounds) {
      for (uint64_t k = 0; k < 4; ++k) {
        const Locked lk(lock);
        (void)a.write(MmioOffset(gtt(own + k * kPage)), 8, pte((rounds % 2 ? kNew : kOld) + k));
      }
      const Locked lk(lock);
      (void)a.write(MmioOffset(gtt(foreign)), 8, pte(kOld));
    }
    done = true;
  });
  uint64_t bad = 0;
  for (bool last = false; !last;) {
    last = done.load();
    Result r = Unexpected(DecodeError{Kind::NoPlane, {}});
    {
      const Locked lk(lock);
      r = cache_->decode(a.vregs(), Plane::Primary, a.ggtt());
    }
    ++answers;
    if (!r || r->pages.size() != 4) {
      ++bad;
      continue;
    }
    for (uint64_t k = 0; k < 4; ++k) {
      const uint64_t page = r->pages[k].value() / kPage;
      const auto byte = std::to_integer<uint64_t>(a.ram().host_bytes(r->pages[k], 1)[0]);
      if (!((page == kOld + k && byte == 0x10 + k) || (page == kNew + k && byte == 0x50 + k))) ++bad;
    }
  }
  writer.join();
  EXPECT_GT(answers.load(), kQueries);
  EXPECT_EQ(bad, 0u) << "an answer showed a page that was neither the old nor the new frame";
  EXPECT_EQ(a.attacks()[GuestAttack::GgttForeignPte], rounds);
  EXPECT_EQ(a.attacks().total() + cache_->attacks().total(), rounds);
  expect_neighbour_unharmed();
  expect_attacker_flips(c);
}

}  // namespace
}  // namespace vgd::test
