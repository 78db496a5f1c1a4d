// The plane decoder against the tables of docs/hardware.md: registers in, DRM description out.
// Inputs are a real vGPU's GGTT (PTEs written through MMIO) and hand-built register snapshots;
// every expected fourcc, modifier, stride and size is a literal taken from those tables.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "decode/decoder.h"
#include "plane_support.h"
#include "support.h"

namespace vgd::test {
namespace {

using hw::Plane;

constexpr uint32_t kPipeOn = 0xC0000000;  // PIPECONF enable (31) + state (30)
constexpr uint32_t kRgbx = 1u << 20;      // PLANE_CTL RGB order
constexpr uint32_t format(uint32_t c) { return c << 24; }
constexpr uint32_t yuv(uint32_t order) { return order << 16; }
constexpr uint32_t tiled(uint32_t c) { return c << 10; }
constexpr uint32_t alpha(uint32_t a) { return a << 4; }
constexpr uint32_t xy(uint32_t x, uint32_t y) { return y << 16 | x; }  // POS, SIZE, OFFSET
constexpr uint32_t src(uint32_t w, uint32_t h) { return (w - 1) << 16 | (h - 1); }  // PIPESRC
constexpr uint32_t kUnknown = 0xFFFFFFFF;
constexpr uint32_t gm(Gma a) { return gm32(a); }

class DecoderTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create();
  }
  // GM pages [at, at + n) → RAM frames first, first + 1, …
  void map(Gma at, uint64_t n, uint64_t first = kFrame0) {
    for (uint64_t k = 0; k < n; ++k) wr(*v, kGtt + 8 * (at.page() + k), pte(first + k), 8);
  }
  Gma ap() const { return v->resources().aperture.begin; }
  GmRange hidden() const { return v->resources().hidden; }

  // Pipe A running a w×h primary at the aperture start; stride in PLANE_STRIDE units.
  PipeSnapshot primary(uint32_t ctl, uint32_t stride, uint32_t w = 64, uint32_t h = 40) const {
    PipeSnapshot s;
    s.pipeconf = kPipeOn;
    s.pipesrc = src(w, h);
    s.primary.ctl = kOn | ctl;
    s.primary.stride = stride;
    s.primary.surflive = gm(ap());
    return s;
  }
  // Primary (3 pages), a 32×16 sprite (1 page) and a 64×64 cursor (4 pages), all mapped. Each
  // also has a flip pending to an unmapped page: only the latched (LIVE) surfaces count.
  PipeSnapshot all_planes() {
    PipeSnapshot s = primary(format(4), 4);
    s.sprite = {kOn | format(4), 4, xy(8, 4), xy(31, 15), 0, 0, gm(ap() + 4 * kPage)};
    s.curcntr = 0x27;
    s.cursurflive = gm(ap() + 8 * kPage);
    s.primary.surf = s.sprite.surf = s.curbase = gm(hidden().begin);
    map(ap(), 12);
    return s;
  }
  Result decode(const PipeSnapshot& s, Plane p = Plane::Primary) const { return decode::decode_plane(s, p, v->ggtt()); }

  Vgpu* v = nullptr;
};

// ---- Golden: every format × every tiling -------------------------------------------------------

struct FormatCase {
  const char* name;
  uint32_t ctl, fourcc, cpp;
};
const FormatCase kFormats[] = {
    {"XRGB8888", format(4), 0x34325258, 4},
    {"XBGR8888", format(4) | kRgbx, 0x34324258, 4},
    {"ARGB8888", format(4) | alpha(2), 0x34325241, 4},
    {"ABGR8888", format(4) | kRgbx | alpha(3), 0x34324241, 4},
    {"XRGB2101010", format(2), 0x30335258, 4},
    {"XBGR2101010", format(2) | kRgbx, 0x30334258, 4},
    {"RGB565", format(14), 0x36314752, 2},
    {"YUYV", format(0) | yuv(0), 0x56595559, 2},
    {"UYVY", format(0) | yuv(1), 0x59565955, 2},
    {"YVYU", format(0) | yuv(2), 0x55595659, 2},
    {"VYUY", format(0) | yuv(3), 0x59555956, 2},
    {"C8", format(12), 0x20203843, 1},
};

// A 64×40 surface with PLANE_STRIDE = 4 units; Yf's unit is 64 B for 8 bpp (the "c8" columns).
struct TilingCase {
  const char* name;
  uint32_t code;
  uint64_t modifier;
  hw::Tiling tiling;
  uint32_t stride, stride_c8;  // bytes
  uint64_t size, size_c8;      // stride × height rounded up to 1 / 8 / 32 rows
  size_t pages, pages_c8;
};
const TilingCase kTilings[] = {
    {"Linear", 0, 0, hw::Tiling::Linear, 256, 256, 10240, 10240, 3, 3},
    {"X", 1, 0x0100000000000001, hw::Tiling::X, 2048, 2048, 81920, 81920, 20, 20},
    {"Y", 4, 0x0100000000000002, hw::Tiling::Y, 512, 512, 32768, 32768, 8, 8},
    {"Yf", 5, 0x0100000000000003, hw::Tiling::Yf, 512, 256, 32768, 16384, 8, 4},
};

class FormatTilingTest : public DecoderTest,
                         public ::testing::WithParamInterface<std::tuple<FormatCase, TilingCase>> {};

TEST_P(FormatTilingTest, DecodesToDrmFormatModifierStrideAndPages) {
  const auto& [f, t] = GetParam();
  map(ap(), 20);
  const Result r = decode(primary(f.ctl | tiled(t.code), 4));
  ASSERT_TRUE(r.has_value()) << r.error().reason;
  const bool c8 = f.cpp == 1;
  EXPECT_EQ(r->fourcc, f.fourcc);
  EXPECT_EQ(r->cpp, f.cpp);
  EXPECT_EQ(r->modifier, t.modifier);
  EXPECT_EQ(r->tiling, t.tiling);
  EXPECT_EQ(std::pair(r->width, r->height), std::pair(64u, 40u));
  EXPECT_EQ(r->stride, c8 ? t.stride_c8 : t.stride);
  EXPECT_EQ(r->size, c8 ? t.size_c8 : t.size);
  EXPECT_EQ(r->base, ap());
  ASSERT_EQ(r->pages.size(), c8 ? t.pages_c8 : t.pages);
  for (size_t k = 0; k < r->pages.size(); ++k) EXPECT_EQ(r->pages[k], MemfdOffset((kFrame0 + k) * kPage)) << k;
}

INSTANTIATE_TEST_SUITE_P(All, FormatTilingTest, ::testing::Combine(::testing::ValuesIn(kFormats), ::testing::ValuesIn(kTilings)),
                         [](const auto& p) {
                           return std::string(std::get<0>(p.param).name) + "_" + std::get<1>(p.param).name;
                         });

// ---- Primary and sprite geometry -------------------------------------------------------------

TEST_F(DecoderTest, FullHdXTiledPrimaryCoversItsPages) {
  map(ap(), 2025);
  const Result r = decode(primary(format(4) | tiled(1), 15, 1920, 1080));
  ASSERT_TRUE(r.has_value()) << r.error().reason;
  EXPECT_EQ(r->fourcc, 0x34325258u);
  EXPECT_EQ(r->stride, 7680u);
  EXPECT_EQ(r->size, 8294400u);
  EXPECT_EQ(r->pages.size(), 2025u);
  EXPECT_EQ(r->pages.back(), MemfdOffset((kFrame0 + 2024) * kPage));
  EXPECT_EQ(r->x_pos, 0);
  EXPECT_EQ(r->x_hot, kUnknown);  // hotspots belong to the cursor only
}

TEST_F(DecoderTest, SpriteTakesSizeAndPositionFromItsOwnRegisters) {
  map(ap(), 7);
  PipeSnapshot s = primary(format(4), 4, 1920, 1080);
  s.sprite = {kOn | format(4), 8, xy(300, 200), xy(99, 49), 0, 0, gm(ap())};
  const Result r = decode(s, Plane::Sprite);
  ASSERT_TRUE(r.has_value()) << r.error().reason;
  EXPECT_EQ(r->plane, Plane::Sprite);
  EXPECT_EQ(std::pair(r->width, r->height), std::pair(100u, 50u));  // PLANE_SIZE, not PIPESRC
  EXPECT_EQ(std::pair(r->x_pos, r->y_pos), std::pair(300, 200));
  EXPECT_EQ(r->stride, 512u);
  EXPECT_EQ(r->size, 25600u);
  EXPECT_EQ(r->pages.size(), 7u);
}

// X-tiled 100×30, stride 512 B = 128 pixels, 32 rows of surface: the window must stay inside.
struct WindowCase {
  uint32_t offset;
  bool ok;  // else the window leaves the surface
};
class WindowTest : public DecoderTest, public ::testing::WithParamInterface<WindowCase> {};
TEST_P(WindowTest, TileOffsetsKeepTheWindowInsideTheSurface) {
  map(ap(), 4);
  PipeSnapshot s = primary(format(4) | tiled(1), 1, 100, 30);
  s.primary.offset = GetParam().offset;
  const Result r = decode(s);
  if (!GetParam().ok) return expect_error(r, Kind::Invalid, "leaves the 128x32-pixel surface");
  ASSERT_TRUE(r.has_value()) << r.error().reason;
  EXPECT_EQ(r->x_offset, GetParam().offset & 0x1FFF);
  EXPECT_EQ(r->y_offset, GetParam().offset >> 16);
}
INSTANTIATE_TEST_SUITE_P(Offsets, WindowTest,
                         ::testing::Values(WindowCase{xy(0, 0), true}, WindowCase{xy(28, 2), true},
                                           WindowCase{xy(29, 0), false}, WindowCase{xy(0, 3), false},
                                           WindowCase{xy(0x1FFF, 0xFFF), false}));

// Decoding, "page-aligned base": the low 12 bits of SURFLIVE are flags (bit 2 decrypt, bit 0 async)
// and reserved bits, which scan-out ignores; they are masked, so the base is aligned by
// construction and a guest cannot shift the surface by a few bytes.
TEST_F(DecoderTest, UnalignedSurfaceAddressIsMaskedToItsPage) {
  map(ap(), 4);
  PipeSnapshot s = primary(format(4), 4);
  s.primary.surflive |= 0xFFD;
  s.cursurflive = s.primary.surflive;
  s.curcntr = 0x27;
  for (Plane p : {Plane::Primary, Plane::Cursor}) {
    const Result r = decode(s, p);
    ASSERT_TRUE(r.has_value()) << r.error().reason;
    EXPECT_EQ(r->base, ap());
    EXPECT_EQ(r->pages.front(), MemfdOffset(kFrame0 * kPage));
  }
}

TEST_F(DecoderTest, RotatedSurfaceIsExportedUnrotated) {
  map(ap(), 20);
  for (uint32_t rotation : {1u, 2u, 3u}) {
    const Result r = decode(primary(format(4) | tiled(1) | rotation, 4));
    ASSERT_TRUE(r.has_value()) << r.error().reason;
    EXPECT_EQ(r->width, 64u);
    EXPECT_EQ(r->stride, 2048u);
    EXPECT_EQ(r->size, 81920u);
  }
}

// ---- Cursor -----------------------------------------------------------------------------------

struct CursorMode {
  uint32_t curcntr, side, stride;
  uint64_t size;
};
class CursorModeTest : public DecoderTest, public ::testing::WithParamInterface<CursorMode> {};
TEST_P(CursorModeTest, IsLinearArgbOfItsSize) {
  map(ap(), 64);
  PipeSnapshot s = primary(format(4), 4);
  s.curcntr = GetParam().curcntr;
  s.cursurflive = gm(ap());
  const Result r = decode(s, Plane::Cursor);
  ASSERT_TRUE(r.has_value()) << r.error().reason;
  EXPECT_EQ(r->fourcc, 0x34325241u);
  EXPECT_EQ(r->modifier, 0u);
  EXPECT_EQ(r->cpp, 4u);
  EXPECT_EQ(std::pair(r->width, r->height), std::pair(GetParam().side, GetParam().side));
  EXPECT_EQ(r->stride, GetParam().stride);
  EXPECT_EQ(r->size, GetParam().size);
  EXPECT_EQ(r->pages.size(), GetParam().size / kPage);
}
INSTANTIATE_TEST_SUITE_P(Modes, CursorModeTest,
                         ::testing::Values(CursorMode{0x22, 128, 512, 65536}, CursorMode{0x23, 256, 1024, 262144},
                                           CursorMode{0x27, 64, 256, 16384}, CursorMode{0x07, 64, 256, 16384},
                                           CursorMode{0x14000027, 64, 256, 16384}));  // + pipe select, CSC

// Position is sign + magnitude; the hotspot is exported only strictly inside the 64×64 cursor.
struct Placement {
  uint32_t curpos, x_hot, y_hot;
  int32_t x, y;
  uint32_t want_x_hot, want_y_hot;
};
class PlacementTest : public DecoderTest, public ::testing::WithParamInterface<Placement> {};
TEST_P(PlacementTest, CursorPositionIsSignedAndHotspotInside) {
  const Placement& c = GetParam();
  PipeSnapshot s = all_planes();
  s.curpos = c.curpos;
  s.x_hot = c.x_hot;
  s.y_hot = c.y_hot;
  const Result r = decode(s, Plane::Cursor);
  ASSERT_TRUE(r.has_value()) << r.error().reason;
  EXPECT_EQ(r->x_pos, c.x);
  EXPECT_EQ(r->y_pos, c.y);
  EXPECT_EQ(r->x_hot, c.want_x_hot);
  EXPECT_EQ(r->y_hot, c.want_y_hot);
}
INSTANTIATE_TEST_SUITE_P(Cursor, PlacementTest,
                         ::testing::Values(Placement{0x0005000A, 0, 0, 10, 5, 0, 0},
                                           Placement{0x8005800A, 63, 63, -10, -5, 63, 63},
                                           Placement{0x0005800A, 5, 9, -10, 5, 5, 9},
                                           Placement{0x8005000A, 64, 10, 10, -5, kUnknown, kUnknown},  // at the edge
                                           Placement{0x0FFF1FFF, 10, 64, 8191, 4095, kUnknown, kUnknown},
                                           Placement{0x8FFF9FFF, 5, kUnknown, -8191, -4095, kUnknown, kUnknown},
                                           Placement{0, kUnknown, kUnknown, 0, 0, kUnknown, kUnknown}));

// ---- Validation failures, one reason each -----------------------------------------------------

TEST_F(DecoderTest, AllPlanesDecodeInTheReferenceSetup) {
  PipeSnapshot s = all_planes();
  for (auto [p, page] : {std::pair{Plane::Primary, 0}, std::pair{Plane::Sprite, 4}, std::pair{Plane::Cursor, 8}}) {
    const Result r = decode(s, p);
    ASSERT_TRUE(r.has_value()) << r.error().reason;
    EXPECT_EQ(r->base, ap() + page * kPage);  // the latched surface, not the pending flip
  }
  s.pipeconf = 1u << 30;  // the state bit is what counts
  EXPECT_TRUE(decode(s).has_value());
}

TEST_F(DecoderTest, UnmappedPageInTheMiddleFaults) {
  map(ap(), 7);
  map(ap() + 8 * kPage, 12);
  expect_error(decode(primary(format(4) | tiled(1), 4)), Kind::Fault, "page 7 of 20");
}

// One failure each: the all_planes() setup with one thing broken.
struct Failure {
  const char* name;
  Plane plane;
  void (*breaks)(PipeSnapshot&, const VgpuResources&);
  Kind kind;
  const char* reason;
};
using R = const VgpuResources&;
const Failure kFailures[] = {
    {"PipeOff", Plane::Cursor, [](PipeSnapshot& s, R) { s.pipeconf = 0; }, Kind::NoPlane,
     "pipe A cursor: pipe not active"},
    // Bit 31 alone is the guest's request; only the host sets the state bit.
    {"PipeRequestedOnly", Plane::Sprite, [](PipeSnapshot& s, R) { s.pipeconf = 1u << 31; }, Kind::NoPlane,
     "pipe A sprite: pipe not active (PIPECONF bit 30 clear)"},
    {"PrimaryOff", Plane::Primary, [](PipeSnapshot& s, R) { s.primary.ctl &= ~kOn; }, Kind::NoPlane,
     "primary: plane disabled"},
    {"SpriteOff", Plane::Sprite, [](PipeSnapshot& s, R) { s.sprite.ctl &= ~kOn; }, Kind::NoPlane,
     "sprite: plane disabled"},
    // Mode bits (0x27) clear, whatever else is set.
    {"CursorOff", Plane::Cursor, [](PipeSnapshot& s, R) { s.curcntr = 0xFFFFFFD8; }, Kind::NoPlane,
     "cursor disabled"},
    {"CursorMode02", Plane::Cursor, [](PipeSnapshot& s, R) { s.curcntr = 0x02; }, Kind::Invalid,
     "unsupported cursor mode 0x02 (CURCNTR & 0x27)"},
    {"CursorMode24", Plane::Cursor, [](PipeSnapshot& s, R) { s.curcntr = 0x24; }, Kind::Invalid,
     "unsupported cursor mode 0x24"},
    {"Nv12", Plane::Primary, [](PipeSnapshot& s, R) { s.primary.ctl = kOn | format(1); }, Kind::Invalid,
     "primary: unsupported pixel format code 1 (PLANE_CTL 27:24)"},
    {"Fp16", Plane::Sprite, [](PipeSnapshot& s, R) { s.sprite.ctl = kOn | format(6); }, Kind::Invalid,
     "sprite: unsupported pixel format code 6"},
    {"ReservedFormat", Plane::Primary, [](PipeSnapshot& s, R) { s.primary.ctl = kOn | format(15); }, Kind::Invalid,
     "pixel format code 15"},
    {"ReservedTiling2", Plane::Primary, [](PipeSnapshot& s, R) { s.primary.ctl |= tiled(2); }, Kind::Invalid,
     "reserved tiling code 2 (PLANE_CTL 12:10)"},
    {"ReservedTiling7", Plane::Sprite, [](PipeSnapshot& s, R) { s.sprite.ctl |= tiled(7); }, Kind::Invalid,
     "reserved tiling code 7"},
    {"ZeroStride", Plane::Primary, [](PipeSnapshot& s, R) { s.primary.stride = 0; }, Kind::Invalid,
     "zero-sized surface (stride 0 bytes × 40 rows)"},
    // Bit 10 lies outside the 9:0 field GVT reads: still a zero stride.
    {"StrideOutsideField", Plane::Primary, [](PipeSnapshot& s, R) { s.primary.stride = 0x400; }, Kind::Invalid,
     "zero-sized surface"},
    {"RowsWiderThanStride", Plane::Primary, [](PipeSnapshot& s, R) { s.primary.stride = 3; }, Kind::Invalid,
     "64 pixels × 4 bytes exceed the stride of 192 bytes: rows would overlap"},
    {"BaseInHostGm", Plane::Primary, [](PipeSnapshot& s, R) { s.primary.surflive = 0; }, Kind::Fault,
     "surface base 0x0 is outside the vGPU's graphics memory"},
    {"BaseJustPastAperture", Plane::Cursor, [](PipeSnapshot& s, R r) { s.cursurflive = gm(r.aperture.end()); },
     Kind::Fault, "cursor: surface base 0xc000000 is outside the vGPU's graphics memory"},
    {"RangePastHiddenEnd", Plane::Primary, [](PipeSnapshot& s, R r) { s.primary.surflive = gm(r.hidden.end() - kPage); },
     Kind::Fault, "runs past the end of the hidden slice at 0x100000000"},  // 3 pages from the last one
    // 523776 B × 320 rows from the last GM page: in 32-bit arithmetic the end wraps into the
    // aperture slice, so both endpoints would look owned.
    {"HugeStrideWrapsIn32Bits", Plane::Primary,
     [](PipeSnapshot& s, R r) {
       s.pipesrc = src(4096, 320);
       s.primary = {kOn | format(4) | tiled(1), 1023, 0, 0, 0, 0, gm(r.hidden.end() - kPage)};
     },
     Kind::Fault, "+167608320 bytes) runs past the end of the hidden slice"},
};

class FailureTest : public DecoderTest, public ::testing::WithParamInterface<Failure> {};
TEST_P(FailureTest, IsRefusedWithItsReason) {
  PipeSnapshot s = all_planes();
  GetParam().breaks(s, v->resources());
  expect_error(decode(s, GetParam().plane), GetParam().kind, GetParam().reason);
}
INSTANTIATE_TEST_SUITE_P(Validation, FailureTest, ::testing::ValuesIn(kFailures),
                         [](const auto& p) { return std::string(p.param.name); });

// The wrap-around row relies on where the default layout puts the slices.
TEST_F(DecoderTest, AttackRangesEndWhereTheFailureTableAssumes) {
  const VgpuResources& r = v->resources();
  EXPECT_EQ(r.aperture.end(), Gma(0xC000000));
  EXPECT_TRUE(r.aperture.contains(Gma((r.hidden.end().value() - kPage + 167608320 - 1) & 0xFFFFFFFF)));
}

// A surface from the last aperture page that ends inside the hidden slice: both endpoints are
// this vGPU's (an endpoint-only check passes), the GM between is not. No plane is larger than
// the mode, so the largest spans 523,776-byte rows × 4096 (2 GiB): this needs a type whose
// hidden slice starts within that of its aperture's end, here 3 GiB of hidden GM.
TEST_F(DecoderTest, ASurfaceSpanningApertureAndHiddenIsRefused) {
  GpuConfig cfg;
  cfg.types.push_back(VgpuType{"deep", {64 * kMiB, 3072 * kMiB, 4}, 1, 8192, 4096});
  init(cfg);
  v = &create("deep");
  const VgpuResources& r = v->resources();
  PipeSnapshot s = primary(format(4) | tiled(1), 1023, 4096, 4096);
  s.primary.surflive = gm(r.aperture.end() - kPage);
  ASSERT_TRUE(r.hidden.contains(r.aperture.end() - kPage + 523776ull * 4096 - 1));
  expect_error(decode(s), Kind::Fault, "+2145386496 bytes) runs past the end of the aperture slice");
}

// ---- From real registers -------------------------------------------------------------------------

TEST_F(DecoderTest, DecodesASnapshotOfGuestProgrammedRegisters) {
  map(ap(), 20);
  wr(*v, 0x6001C, src(64, 40));
  wr(*v, 0x70188, 4);
  wr(*v, 0x70180, kOn | format(4) | tiled(1));
  wr(*v, 0x7019C, gm(ap()));
  wr(*v, 0x70008, 1u << 31);
  const Result r = decode(decode::snapshot(v->vregs(), hw::Pipe::A));
  ASSERT_TRUE(r.has_value()) << r.error().reason;
  EXPECT_EQ(r->fourcc, 0x34325258u);
  EXPECT_EQ(r->modifier, 0x0100000000000001u);
  EXPECT_EQ(r->size, 81920u);
  EXPECT_EQ(r->pages.size(), 20u);
}

}  // namespace
}  // namespace vgd::test
