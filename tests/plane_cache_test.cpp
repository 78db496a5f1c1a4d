// The decoded-plane cache behind QueryPlane: a flipping guest's surfaces are decoded once each,
// a hit is exactly a fresh decode, and any GGTT write or plane register change is seen at once.
#include <gtest/gtest.h>

#include "decode/plane_cache.h"
#include "plane_support.h"
#include "support.h"

namespace vgd::decode {
namespace {

using hw::Plane;
using test::SmallPrimary;

constexpr uint32_t kAsync = 1u << 9;  // flips latch at once

class PlaneCacheTest : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create();
    SmallPrimary::light(*v, 3, kAsync);
    flip(0);
  }
  void flip(uint64_t surface) { wr(*v, SmallPrimary::reg(hw::plane::kSurf), SmallPrimary::surface(*v, surface)); }
  Decoded fresh(Plane p = Plane::Primary) const {
    return decode_plane(snapshot(v->vregs(), hw::Pipe::A), p, v->ggtt());
  }
  const Decoded& cached(Plane p = Plane::Primary) { return cache.decode(v->vregs(), p, v->ggtt()); }
  static std::vector<MemfdOffset> pages(const Decoded& d) { return d ? d->pages : std::vector<MemfdOffset>{}; }

  Vgpu* v = nullptr;
  PlaneCache cache;
};

TEST_F(PlaneCacheTest, FlippingBetweenTwoSurfacesDecodesEachOnce) {
  for (int frame = 0; frame < 10; ++frame) {
    flip(frame % 2);
    const Decoded& d = cached();
    ASSERT_TRUE(d) << d.error().reason;
    EXPECT_EQ(d->base, fresh()->base);
    EXPECT_EQ(pages(d), pages(fresh()));
  }
  EXPECT_EQ(cache.counters().misses, 2u);
  EXPECT_EQ(cache.counters().hits, 8u);
}

TEST_F(PlaneCacheTest, AGgttWriteIsSeenAtOnce) {
  ASSERT_TRUE(cached());
  // Remap the last page of the shown surface to another RAM frame.
  const Gma last = SmallPrimary::gm(*v, SmallPrimary::kPages - 1);
  wr(*v, test::kGtt + 8 * last.page(), test::pte(0x900), 8);
  const Decoded& d = cached();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->pages.back(), MemfdOffset::from_page(0x900));
  EXPECT_EQ(pages(d), pages(fresh()));
  EXPECT_EQ(cache.counters().misses, 2u);
}

TEST_F(PlaneCacheTest, ARegisterChangeIsSeenAtOnce) {
  ASSERT_TRUE(cached());
  wr(*v, hw::trans::kPipeSrc, (32 - 1) << 16 | (SmallPrimary::kH - 1));  // 32 pixels wide
  const Decoded& d = cached();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->width, 32u);
  wr(*v, SmallPrimary::reg(hw::plane::kCtl), 0);  // primary off
  EXPECT_FALSE(cached());
  EXPECT_EQ(cache.counters().misses, 3u);
}

TEST_F(PlaneCacheTest, ACursorMoveKeepsThePrimaryCached) {
  ASSERT_TRUE(cached());
  for (uint32_t x = 0; x < 5; ++x) {
    wr(*v, hw::cursor::reg(hw::Pipe::A, hw::cursor::kPos), x);
    ASSERT_TRUE(cached());
  }
  EXPECT_EQ(cache.counters().misses, 1u);
  EXPECT_EQ(cache.counters().hits, 5u);
}

TEST_F(PlaneCacheTest, NoActivePipeIsNoPlane) {
  wr(*v, hw::pipe::kConf, 0);
  const Decoded& d = cached();
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind, DecodeError::Kind::NoPlane);
}

}  // namespace
}  // namespace vgd::decode
