// Refilling shadow framebuffers (docs/direct-flip.md, Shadow framebuffers): a shadow shows exactly
// what the framebuffer layer makes of the guest's surface (its own detile and convert of the
// same bytes), whether refilled whole or tile by tile as the ring rotates; the composed, scaled
// fallback shows a known picture scaled as stated.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "fake_host_display.h"
#include "fb/compose.h"
#include "fb/detile.h"
#include "hostdisplay/shadow_refill.h"
#include "hostdisplay/shadow_ring.h"

namespace vgd::hostdisplay {
namespace {

namespace drm = hw::drm;
using hw::Tiling;
using testing::FakeHostDisplay;

// A guest surface of random bytes: stride 2048 (whole X, Y and Yf tiles), 128 rows (whole tiles).
struct Surface {
  static constexpr uint32_t kStride = 2048, kRows = 128;
  std::vector<std::byte> bytes = std::vector<std::byte>(size_t{kStride} * kRows);
  explicit Surface(uint32_t seed) {
    std::mt19937 rng(seed);
    for (auto& b : bytes) b = std::byte{static_cast<uint8_t>(rng())};
  }
  fb::PlaneView view() const { return fb::PlaneView::borrow(bytes); }
};

decode::PlaneInfo plane(uint32_t fourcc, Tiling t, uint32_t x_off, uint32_t y_off, uint32_t w, uint32_t h) {
  decode::PlaneInfo p;
  p.fourcc = fourcc;
  p.tiling = t;
  p.cpp = fb::format_cpp(fourcc);
  p.width = w;
  p.height = h;
  p.stride = Surface::kStride;
  p.x_offset = x_off;
  p.y_offset = y_off;
  return p;
}

// Row y of a shadow: width · cpp bytes.
std::vector<std::byte> shadow_row(const Buffer& b, uint32_t y, uint32_t width, uint32_t cpp) {
  const auto* p = b.bytes().data() + uint64_t{y} * b.layout().pitch[0];
  return {p, p + size_t{width} * cpp};
}

// Every shown pixel of two shadows of width × height, byte for byte.
void expect_same_picture(const Buffer& a, const Buffer& b, uint32_t width, uint32_t height, uint32_t cpp) {
  for (uint32_t y = 0; y < height; ++y) ASSERT_EQ(shadow_row(a, y, width, cpp), shadow_row(b, y, width, cpp)) << "row " << y;
}

const char* tiling_name(Tiling t) { return t == Tiling::Linear ? "linear" : t == Tiling::X ? "X" : t == Tiling::Y ? "Y" : "Yf"; }

class ShadowRefillTest : public ::testing::Test {
 protected:
  BufferRef buffer(uint32_t w, uint32_t h, uint32_t fourcc) {
    auto b = display.create_buffer(w, h, fourcc);
    EXPECT_TRUE(b);
    return *b;
  }
  FakeHostDisplay display;
  Refiller refiller;
};

TEST_F(ShadowRefillTest, ACopyIsTheFbLayersDetileOfTheSameBytes) {
  const Surface s(1);
  for (uint32_t fourcc : {drm::kXRGB8888, drm::kYUYV, drm::kRGB565})
    for (Tiling t : {Tiling::Linear, Tiling::X, Tiling::Y, Tiling::Yf}) {
      SCOPED_TRACE(::testing::Message() << tiling_name(t) << " " << std::hex << fourcc);
      const auto p = plane(fourcc, t, 40, 8, 300, 100);
      BufferRef dst = buffer(p.width, p.height, fourcc);
      auto st = refiller.refill(p, s.view(), *dst, Region::whole_picture());
      ASSERT_TRUE(st) << st.error();
      EXPECT_TRUE(st->whole);
      EXPECT_EQ(st->bytes, uint64_t{p.width} * p.height * p.cpp);
      auto want = fb::detile({s.bytes, t, p.cpp, p.stride}, {p.x_offset, p.y_offset, p.width, p.height});
      ASSERT_TRUE(want);
      const size_t row = size_t{p.width} * p.cpp;
      for (uint32_t y = 0; y < p.height; ++y) {
        const auto* w = want->data() + y * row;
        ASSERT_EQ(shadow_row(*dst, y, p.width, p.cpp), std::vector<std::byte>(w, w + row)) << "row " << y;
      }
    }
}

TEST_F(ShadowRefillTest, AConversionIsTheFbLayersRenderingOfTheSameBytes) {
  const Surface s(2);
  for (uint32_t fourcc : {drm::kXBGR8888, drm::kARGB8888, drm::kXRGB2101010, drm::kRGB565, drm::kYUYV, drm::kUYVY, drm::kC8})
    for (Tiling t : {Tiling::Linear, Tiling::X, Tiling::Y})
      for (uint32_t target : {drm::kXRGB8888, drm::kARGB8888}) {
        SCOPED_TRACE(::testing::Message() << tiling_name(t) << " " << std::hex << fourcc << " to " << target);
        if (fourcc == target) continue;
        // An odd x offset and width: packed YUV windows start and end mid-macropixel.
        const auto p = plane(fourcc, t, 41, 5, 201, 90);
        BufferRef dst = buffer(p.width, p.height, target);
        auto st = refiller.refill(p, s.view(), *dst, Region::whole_picture());
        ASSERT_TRUE(st) << st.error();
        EXPECT_EQ(st->bytes, uint64_t{p.width} * p.height * 4);
        auto want = fb::render_plane(p, s.view());
        ASSERT_TRUE(want) << want.error();
        const uint32_t mask = target == drm::kXRGB8888 ? 0x00FFFFFFu : 0xFFFFFFFFu;  // XRGB: X byte 0
        for (uint32_t y = 0; y < p.height; ++y) {
          const auto got = shadow_row(*dst, y, p.width, 4);
          for (uint32_t x = 0; x < p.width; ++x) {
            uint32_t v;
            std::memcpy(&v, got.data() + x * 4, 4);
            ASSERT_EQ(v, want->at(x, y) & mask) << "pixel " << x << "," << y;
          }
        }
      }
}

// An X-tiled guest surface the test writes by coordinates (512-byte rows of 8-row tiles).
void put_x_tiled(std::vector<std::byte>& s, uint32_t stride, uint32_t x, uint32_t y, uint32_t v) {
  const uint64_t xb = uint64_t{x} * 4;
  const uint64_t off = (uint64_t{y / 8} * (stride / 512) + xb / 512) * 4096 + (y % 8) * 512 + xb % 512;
  std::memcpy(s.data() + off, &v, 4);
}

TEST_F(ShadowRefillTest, DamagedTilesOnlyGiveTheFullPictureAsTheRingRotates) {
  Surface s(3);
  for (uint32_t target : {drm::kXRGB8888, drm::kARGB8888}) {  // a detiled copy, then a conversion
    SCOPED_TRACE(::testing::Message() << "into " << std::hex << target);
    const auto p = plane(drm::kXRGB8888, Tiling::X, 16, 8, 400, 110);
    auto ring = ShadowRing::create(display, p.width, p.height, target);
    ASSERT_TRUE(ring) << ring.error();
    BufferRef full = buffer(p.width, p.height, target);
    std::mt19937 rng_engine(7);
    const auto rng = [&] { return static_cast<uint32_t>(rng_engine()); };
    uint64_t partial_bytes = 0, full_bytes = 0;
    uint32_t oldest = 0;
    for (int frame = 0; frame < 20; ++frame) {
      // The guest draws one to three small rectangles and says so in its damage hints.
      Region damage;
      for (uint32_t k = 0, n = 1 + rng() % 3; k < n && frame > 0; ++k) {
        const Rect r{rng() % 380, rng() % 100, 1 + rng() % 20, 1 + rng() % 10};
        damage.add(r);
        for (uint32_t y = r.y; y < std::min(r.y + r.h, p.height); ++y)
          for (uint32_t x = r.x; x < std::min(r.x + r.w, p.width); ++x)
            put_x_tiled(s.bytes, p.stride, p.x_offset + x, p.y_offset + y, rng());
      }
      ring->note_frame(frame == 0 ? Region::whole_picture() : damage);
      auto a = ring->acquire();
      ASSERT_TRUE(a);
      if (a->age) oldest = std::max(oldest, *a->age);
      auto st = refiller.refill(p, s.view(), *a->buffer, a->refill);
      ASSERT_TRUE(st) << st.error();
      auto whole = refiller.refill(p, s.view(), *full, Region::whole_picture());
      ASSERT_TRUE(whole);
      if (frame >= 3) partial_bytes += st->bytes, full_bytes += whole->bytes;
      ASSERT_NO_FATAL_FAILURE(expect_same_picture(*a->buffer, *full, p.width, p.height, 4)) << "frame " << frame;
      ring->submitted(a->index);
      ring->latched(a->buffer->fb_id());  // shown at once: the ring's three buffers take turns
    }
    EXPECT_EQ(oldest, 3u) << "each buffer was refilled three frames after it was last filled";
    EXPECT_LT(partial_bytes * 2, full_bytes) << "only damaged tiles were copied";
  }
}

TEST_F(ShadowRefillTest, MostOfThePictureDamagedRefillsWhole) {
  const Surface s(4);
  const auto p = plane(drm::kXRGB8888, Tiling::Y, 0, 0, 256, 128);
  BufferRef dst = buffer(p.width, p.height, drm::kXRGB8888);
  Region most, little;
  most.add({0, 0, 256, 80});
  little.add({10, 10, 4, 4});
  auto a = refiller.refill(p, s.view(), *dst, most);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->whole);
  EXPECT_EQ(a->rects, 1u);
  auto b = refiller.refill(p, s.view(), *dst, little);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->whole);
  EXPECT_EQ(b->bytes, 32u * 32 * 4);  // one tile
  auto c = refiller.refill(p, s.view(), *dst, Region{});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->bytes, 0u);
}

TEST_F(ShadowRefillTest, RefusesWhatItCannotFillWithTheReason) {
  const Surface s(5);
  const auto p = plane(drm::kXRGB8888, Tiling::X, 0, 0, 256, 64);
  const auto expect_refused = [&](const decode::PlaneInfo& q, Buffer& dst, const char* needle) {
    auto r = refiller.refill(q, s.view(), dst, Region::whole_picture());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find(needle), std::string::npos) << r.error();
  };
  expect_refused(p, *buffer(256, 64, drm::kRGB565), "cannot refill");  // no converter to RGB565
  expect_refused(p, *buffer(128, 64, drm::kXRGB8888), "smaller than the picture");
  auto tall = p;
  tall.height = 200;  // more rows than the surface has
  expect_refused(tall, *buffer(256, 200, drm::kXRGB8888), "plane window");
  auto yuv = plane(drm::kYUYV, Tiling::Linear, 3, 0, 64, 8);
  expect_refused(yuv, *buffer(64, 8, drm::kYUYV), "mid-macropixel");
}

TEST(ShadowScale, FitKeepsTheAspectRatioCentred) {
  EXPECT_EQ(fit_rect(1024, 768, 1920, 1080), (Rect{240, 0, 1440, 1080}));
  EXPECT_EQ(fit_rect(1920, 1080, 1024, 768), (Rect{0, 96, 1024, 576}));
  EXPECT_EQ(fit_rect(800, 600, 800, 600), (Rect{0, 0, 800, 600}));
  EXPECT_EQ(fit_rect(0, 600, 800, 600), Rect{});
}

TEST(ShadowScale, BilinearSamplesPixelCentres) {
  // Doubling a black-to-white pair: samples at -1/4 (clamped), 1/4, 3/4, 5/4 (clamped) of a pixel.
  const fb::Image src{2, 1, {0xFF000000u, 0xFFFFFFFFu}};
  std::vector<uint32_t> dst(4);
  scale_bilinear(src, dst.data(), 4, {0, 0, 4, 1});
  EXPECT_EQ(dst, (std::vector<uint32_t>{0xFF000000u, 0xFF404040u, 0xFFBFBFBFu, 0xFFFFFFFFu}));
  // Halving averages each 2 × 2 block (each column's pair, then the two, rounded each time);
  // the same size copies exactly.
  const fb::Image quad{2, 2, {0x00000010u, 0x00000020u, 0x00100030u, 0x00200041u}};
  uint32_t one = 0;
  scale_bilinear(quad, &one, 1, {0, 0, 1, 1});
  EXPECT_EQ(one, 0x000C0029u);
  std::vector<uint32_t> same(4);
  scale_bilinear(quad, same.data(), 2, {0, 0, 2, 2});
  EXPECT_EQ(same, quad.px);
}

TEST_F(ShadowRefillTest, ComposedFallbackIsTheKnownPictureScaledAndLetterboxed) {
  // A 64 × 32 primary of 2 × 2 blocks alternating blue and green, a red 8 × 8 sprite at (8, 8)
  // and a 4 × 4 half-transparent white cursor at (60, 28) hanging off the edge; into 40 × 16:
  // halved (32 × 16) and centred, black bars of 4 pixels left and right.
  std::vector<std::byte> prim(64 * 32 * 4), spr(8 * 8 * 4), cur(4 * 4 * 4);
  const auto put = [](std::vector<std::byte>& b, uint32_t w, uint32_t x, uint32_t y, uint32_t v) {
    std::memcpy(b.data() + (y * w + x) * 4, &v, 4);
  };
  for (uint32_t y = 0; y < 32; ++y)
    for (uint32_t x = 0; x < 64; ++x) put(prim, 64, x, y, (x / 2 + y / 2) % 2 ? 0x0000FF00u : 0x000000FFu);
  for (uint32_t i = 0; i < 64; ++i) put(spr, 8, i % 8, i / 8, 0x00FF0000u);
  for (uint32_t i = 0; i < 16; ++i) put(cur, 4, i % 4, i / 4, 0x80FFFFFFu);
  auto pp = plane(drm::kXRGB8888, Tiling::Linear, 0, 0, 64, 32);
  pp.stride = 256;
  auto sp = plane(drm::kXRGB8888, Tiling::Linear, 0, 0, 8, 8);
  sp.stride = 32, sp.x_pos = 8, sp.y_pos = 8;
  auto cp = plane(drm::kARGB8888, Tiling::Linear, 0, 0, 4, 4);
  cp.stride = 16, cp.x_pos = 60, cp.y_pos = 28;
  const auto pv = fb::PlaneView::borrow(prim), sv = fb::PlaneView::borrow(spr), cv = fb::PlaneView::borrow(cur);

  BufferRef dst = buffer(40, 16, drm::kXRGB8888);
  auto st = compose_scaled({&pp, &pv, &sp, &sv, &cp, &cv}, *dst);
  ASSERT_TRUE(st) << st.error();
  EXPECT_EQ(st->bytes, 40u * 16 * 4);
  for (uint32_t y = 0; y < 16; ++y) {
    const auto row = shadow_row(*dst, y, 40, 4);
    for (uint32_t x = 0; x < 40; ++x) {
      uint32_t got;
      std::memcpy(&got, row.data() + x * 4, 4);
      uint32_t want = 0;  // the bars
      if (x >= 4 && x < 36) {
        const uint32_t sx = x - 4;
        want = (sx + y) % 2 ? 0x0000FF00u : 0x000000FFu;                 // each block one pixel
        if (sx >= 4 && sx < 8 && y >= 4 && y < 8) want = 0x00FF0000u;    // the sprite, halved
        if (sx >= 30 && y >= 14) want = fb::blend_over(want | 0xFF000000u, 0x80FFFFFFu) & 0x00FFFFFFu;  // cursor
      }
      ASSERT_EQ(got, want) << "pixel " << x << "," << y;
    }
  }

  // Same size: exactly what fb::compose makes of the planes.
  BufferRef same = buffer(64, 32, drm::kARGB8888);
  ASSERT_TRUE(compose_scaled({&pp, &pv, &sp, &sv, nullptr, nullptr}, *same));
  auto pimg = fb::render_plane(pp, pv);
  auto simg = fb::render_plane(sp, sv);
  ASSERT_TRUE(pimg && simg);
  const fb::Image want = fb::compose(*pimg, &*simg, 8, 8, nullptr, 0, 0);
  for (uint32_t y = 0; y < 32; ++y) {
    const auto row = shadow_row(*same, y, 64, 4);
    ASSERT_EQ(std::memcmp(row.data(), &want.at(0, y), 64 * 4), 0) << "row " << y;
  }
}

}  // namespace
}  // namespace vgd::hostdisplay
