// A hostile guest on the display path (docs/hardware.md, Hostile guests): whatever it programs into
// its plane registers and GGTT, decode_plane either describes pages of its own RAM inside one of
// its own slices, or refuses with the right kind and a reason saying what was wrong.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "decode/decoder.h"
#include "fb/compose.h"
#include "fb/view.h"
#include "plane_support.h"
#include "support.h"

namespace vgd::test {
namespace {

using hw::Plane;

constexpr uint32_t kXrgbXTiled = kOn | 4u << 24 | 1u << 10;

// Attacker `a` and its neighbour `b`, created in that order so their aperture slices touch.
class DecoderAttackTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    a = &create();
    b = &create();
    map(*b, b->resources().aperture.begin, 32);  // the neighbour's framebuffer is live
    map(*b, b->resources().hidden.begin, 32);
    map(*a, own(), 20);
  }
  static void map(Vgpu& g, Gma at, uint64_t n, uint64_t first = kFrame0) {
    for (uint64_t k = 0; k < n; ++k) wr(g, kGtt + 8 * (at.page() + k), pte(first + k), 8);
  }
  Gma own() const { return a->resources().aperture.begin; }

  // The attacker's pipe A: 64×40 X-tiled XRGB8888 primary and sprite (20 pages) and a 64×64
  // cursor, all on its first mapped pages.
  PipeSnapshot live() const {
    PipeSnapshot s;
    s.pipeconf = 0xC0000000;
    s.pipesrc = 63u << 16 | 39u;
    s.primary = {kXrgbXTiled, 4, 0, 0, 0, 0, gm32(own())};
    s.sprite = {kXrgbXTiled, 4, 0, 39u << 16 | 63u, 0, 0, gm32(own())};  // PLANE_SIZE: height-1 << 16
    s.curcntr = 0x27;
    s.cursurflive = gm32(own());
    return s;
  }
  Result decode(const PipeSnapshot& s, Plane p = Plane::Primary) const { return decode::decode_plane(s, p, a->ggtt()); }

  Vgpu* a = nullptr;
  Vgpu* b = nullptr;
};

TEST_F(DecoderAttackTest, EveryFormatAndTilingCodeIsDecodedOrRefused) {
  PipeSnapshot s = live();
  for (uint32_t format = 0; format < 16; ++format) {
    for (uint32_t tiling = 0; tiling < 8; ++tiling) {
      // Plus every bit the decoder ignores (gamma, CSC, keying, flip, trickle feed, async).
      s.primary.ctl = kOn | format << 24 | tiling << 10 | 0x50ECE300u;
      const Result r = decode(s);
      const bool format_ok = format == 0 || format == 2 || format == 4 || format == 12 || format == 14;
      const bool tiling_ok = tiling == 0 || tiling == 1 || tiling == 4 || tiling == 5;
      SCOPED_TRACE(fmt::format("format {} tiling {}", format, tiling));
      if (!format_ok)
        expect_error(r, Kind::Invalid, fmt::format("pixel format code {}", format));
      else if (!tiling_ok)
        expect_error(r, Kind::Invalid, fmt::format("tiling code {}", tiling));
      else
        EXPECT_TRUE(r.has_value()) << r.error().reason;
    }
  }
}

TEST_F(DecoderAttackTest, EveryCursorModeIsDecodedOrRefused) {
  PipeSnapshot s = live();
  for (uint32_t mode = 0; mode < 0x40; ++mode) {
    s.curcntr = 0xFFFFFFC0u | mode;  // garbage in every other bit
    const Result r = decode(s, Plane::Cursor);
    SCOPED_TRACE(fmt::format("mode 0x{:02x}", mode));
    const uint32_t m = mode & 0x27;
    if (m == 0)
      expect_error(r, Kind::NoPlane, "cursor disabled");
    else if (m == 0x23)  // 256×256×4 B needs 64 pages; only 20 are mapped
      expect_error(r, Kind::Fault, "page 20 of 64");
    else if (m == 0x22 || m == 0x27 || m == 0x07)
      EXPECT_TRUE(r.has_value()) << r.error().reason;
    else
      expect_error(r, Kind::Invalid, fmt::format("cursor mode 0x{:02x}", m));
  }
}

// All-ones registers: the largest stride and size the fields allow. The size stays exact
// (523776 B × 4096 rows) and is refused, never wrapped into the slice; a sprite of 8192 × 8192,
// larger than any pipe source, is refused before its size matters.
TEST_F(DecoderAttackTest, AllOnesStrideAndSizeAreRefused) {
  PipeSnapshot s = live();
  s.pipesrc = 0xFFFFFFFF;
  s.primary.stride = s.sprite.stride = 0xFFFFFFFF;
  s.sprite.size = 0xFFFFFFFF;
  expect_error(decode(s, Plane::Primary), Kind::Fault, "+2145386496 bytes) runs past the end of the aperture slice");
  expect_error(decode(s, Plane::Sprite), Kind::Invalid, "8192x8192 pixels do not fit the 8192x4096 pipe source");
  s.sprite.size = 0x0FFF1FFF;  // as large as the pipe source
  expect_error(decode(s, Plane::Sprite), Kind::Fault, "+2145386496 bytes) runs past the end of the aperture slice");
}

// 8 bpp Yf tiles are 64 B × 64 rows. A plane shorter than a tile row used to get a size rounded
// up to 32 rows only, half of the tile row its pixels live in: it decoded, but its pages could not
// be rendered (and an export would have been short). Caught by fuzz/display_fuzz.
TEST_F(DecoderAttackTest, EightBppYfSizeCoversWholeTileRows) {
  PipeSnapshot s = live();
  s.pipesrc = 127u << 16 | 31u;               // 128×32
  s.primary.ctl = kOn | 12u << 24 | 5u << 10;  // C8, Yf
  s.primary.stride = 2;                        // 2 × 64 B: two tiles across
  const Result r = decode(s);
  ASSERT_TRUE(r.has_value()) << r.error().reason;
  EXPECT_EQ(r->size, 128u * 64);
  EXPECT_EQ(r->pages.size(), 2u);
  auto view = fb::PlaneView::map(a->ram_ref(), *r);
  ASSERT_TRUE(view.has_value()) << view.error();
  const auto img = fb::render_plane(*r, *view);
  ASSERT_TRUE(img.has_value()) << img.error();
  EXPECT_EQ(std::pair(img->width, img->height), std::pair(128u, 32u));
}

struct Foreign {
  const char* name;
  Plane plane;
  bool hidden;  // the neighbour's hidden slice, else its aperture
};
class ForeignBaseTest : public DecoderAttackTest, public ::testing::WithParamInterface<Foreign> {};

TEST_P(ForeignBaseTest, SurfaceInTheNeighboursSliceFaults) {
  const Gma theirs = GetParam().hidden ? b->resources().hidden.begin : b->resources().aperture.begin;
  ASSERT_FALSE(b->ggtt().translate(theirs)->scratch);  // mapped: a real page of the neighbour
  PipeSnapshot s = live();
  s.primary.surflive = s.sprite.surflive = s.cursurflive = gm32(theirs);
  expect_error(decode(s, GetParam().plane), Kind::Fault, "outside the vGPU's graphics memory");
}
INSTANTIATE_TEST_SUITE_P(Planes, ForeignBaseTest,
                         ::testing::Values(Foreign{"PrimaryAperture", Plane::Primary, false},
                                           Foreign{"PrimaryHidden", Plane::Primary, true},
                                           Foreign{"SpriteHidden", Plane::Sprite, true},
                                           Foreign{"CursorAperture", Plane::Cursor, false}),
                         [](const auto& p) { return std::string(p.param.name); });

TEST_F(DecoderAttackTest, RangeRunningIntoTheNeighboursSliceFaults) {
  ASSERT_EQ(a->resources().aperture.end(), b->resources().aperture.begin) << "slices no longer adjacent";
  const Gma base = a->resources().aperture.end() - 4 * kPage;  // 20 pages: 16 of them the neighbour's
  map(*a, base, 4);
  PipeSnapshot s = live();
  s.primary.surflive = gm32(base);
  expect_error(decode(s), Kind::Fault, "runs past the end of the aperture slice");
}

// The guest rewrites one PTE of a plane that decoded fine: the next decode refuses the scratch
// page instead of exporting it.
struct Remap {
  const char* name;
  unsigned size;      // bytes written to the entry
  uint64_t value;
};
class RemapTest : public DecoderAttackTest, public ::testing::WithParamInterface<Remap> {};

TEST_P(RemapTest, LivePlanePageTurnedScratchFaults) {
  ASSERT_TRUE(decode(live()).has_value());
  wr(*a, kGtt + 8 * (own().page() + 5), GetParam().value, GetParam().size);
  expect_error(decode(live()), Kind::Fault,
               fmt::format("page 5 of 20 (GM 0x{:x}) is not mapped to guest RAM", (own() + 5 * kPage).value()));
}
INSTANTIATE_TEST_SUITE_P(Writes, RemapTest,
                         ::testing::Values(Remap{"FrameBeyondRam", 8, pte(0x7FFFFFF)},  // 64 MiB RAM
                                           Remap{"NotPresent", 8, 0},
                                           Remap{"HalfWritten", 4, pte(0x200)}),
                         [](const auto& p) { return std::string(p.param.name); });

TEST_F(DecoderAttackTest, PagesFollowARemapToAnotherOwnFrame) {
  const Result before = decode(live());
  ASSERT_TRUE(before.has_value()) << before.error().reason;
  wr(*a, kGtt + 8 * (own().page() + 5), pte(0x3000), 8);
  const Result after = decode(live());
  ASSERT_TRUE(after.has_value()) << after.error().reason;
  EXPECT_EQ(after->pages[5], MemfdOffset(0x3000 * kPage));
  EXPECT_EQ(after->pages[4], before->pages[4]);
  EXPECT_EQ(after->pages[6], before->pages[6]);
}

TEST_F(DecoderAttackTest, BogusPvinfoHotspotIsNotExported) {
  wr(*a, 0x70008, 1u << 31);
  const auto with_hot = [&](uint32_t x, uint32_t y) {
    wr(*a, 0x78830, x);
    wr(*a, 0x78834, y);
    PipeSnapshot s = decode::snapshot(a->vregs(), hw::Pipe::A);
    s.curcntr = 0x27;
    s.cursurflive = gm32(own());
    return decode(s, Plane::Cursor);
  };
  const Result inside = with_hot(3, 4), outside = with_hot(1000, 4);
  ASSERT_TRUE(inside.has_value() && outside.has_value());
  EXPECT_EQ(inside->x_hot, 3u);
  EXPECT_EQ(inside->y_hot, 4u);
  EXPECT_EQ(outside->x_hot, 0xFFFFFFFFu);
  EXPECT_EQ(outside->y_hot, 0xFFFFFFFFu);
}

TEST_F(DecoderAttackTest, GuestCannotForgeThePipeStateBit) {
  EXPECT_EQ(decode::first_active_pipe(a->vregs()), std::nullopt);
  wr(*a, 0x71008, 1u << 31);  // enable pipe B; the host sets its state bit
  EXPECT_EQ(decode::first_active_pipe(a->vregs()), hw::Pipe::B);
  wr(*a, 0x70008, 1u << 31);
  EXPECT_EQ(decode::first_active_pipe(a->vregs()), hw::Pipe::A);
  wr(*a, 0x70008, 1u << 30);  // state bit without the enable: the host clears it
  EXPECT_EQ(decode::first_active_pipe(a->vregs()), hw::Pipe::B);
}

// In failsafe mode display writes land in plain storage: the guest's enable bit alone must not
// make the decoder show anything.
TEST_F(DecoderAttackTest, FailsafeGuestEnablingItsPipeShowsNothing) {
  wr(*a, 0x100000 + 8 * 31, 0, 4);  // fence beyond its 4, not PV-aware: failsafe
  ASSERT_TRUE(a->failsafe());
  wr(*a, 0x70008, 1u << 31);
  EXPECT_EQ(decode::first_active_pipe(a->vregs()), std::nullopt);
  expect_error(decode(decode::snapshot(a->vregs(), hw::Pipe::A)), Kind::NoPlane, "pipe not active");
  // Nor can it forge the bits only the host sets while nobody is watching its writes.
  wr(*a, 0x70008, 3u << 30);
  wr(*a, 0x701AC, 0x1000);  // PLANE_SURFLIVE_1_A
  EXPECT_EQ(decode::first_active_pipe(a->vregs()), std::nullopt);
  EXPECT_EQ(a->vregs().read32(0x70008), 1u << 31) << "stored for the guest to read back, minus the state bit";
  EXPECT_EQ(a->vregs().read32(0x701AC), 0u);
}

}  // namespace
}  // namespace vgd::test
