// The direct-flip engine end to end (docs/direct-flip.md, The engine): an in-process guest flips
// known pictures on a vGPU whose pipe is put on a virtual monitor, and what the monitor scans out
// is the guest's picture, pixel for pixel, or scaled when the modes differ; the guest's
// flip-done waits for the host's page flip; nothing after the bring-up modesets.
#include <gtest/gtest.h>

#include <cstring>

#include "directflip_support.h"
#include "fb/image.h"
#include "hostdisplay/shadow_refill.h"

namespace vgd {
namespace {

using namespace test;  // the fixture's names (directflip_support.h)

class DirectFlipPipeTest : public test::DirectFlipTest {};

TEST_F(DirectFlipPipeTest, GuestFlipsReachTheMonitorPixelExactAndFlipDoneWaitsForTheHost) {
  boot();
  g->vgpu().vblank();  // the first frame goes up
  host_vblank();
  std::string where;
  EXPECT_EQ(mismatches(0, &where), 0u) << where;

  draw(back, 1);
  ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, back), Error::None);
  g->vgpu().vblank();  // latches the flip and commits it to the host
  EXPECT_EQ(rd(g->vgpu(), hw::plane::reg(Pipe::A, 1, hw::plane::kSurfLive)), back.buffer.gm.value());
  EXPECT_FALSE(flip_done()) << "flip-done before the host showed the flip";
  EXPECT_EQ(mismatches(0), 0u) << "the host has not latched it yet";
  host_vblank();
  EXPECT_TRUE(flip_done()) << "flip-done once the host's page flip came";
  EXPECT_EQ(mismatches(1, &where), 0u) << where;

  const auto c = link->counters();
  EXPECT_EQ(c.commits, 2u);
  EXPECT_EQ(c.imports, 2u) << "the monitor imports the guest's pages: no copy";
  EXPECT_EQ(c.bytes_copied, 0u);
  EXPECT_EQ(c.scaled_fallbacks, 0u);
  EXPECT_EQ(mon->counters().with_allow_modeset, 1u) << "only the bring-up modesets";
}

TEST_F(DirectFlipPipeTest, WithoutImportsShadowsAreRefilledWhereTheGuestSaysItDrew) {
  boot(kW, kH, /*can_import=*/false);
  ASSERT_EQ(g->display().set_damage_hints(true), Error::None);
  draw(back, 0);
  g->vgpu().vblank();
  host_vblank();
  std::string where;
  EXPECT_EQ(mismatches(0, &where), 0u) << where;
  EXPECT_EQ(link->counters().imports, 0u);
  EXPECT_EQ(link->counters().bytes_copied, uint64_t{kW} * kH * 4) << "the first frame is copied whole";

  // Frames that change only a box, said so: once every shadow of the ring has been filled, a
  // refill copies the box's tiles of the frames it missed, not the picture.
  const guest::DamageBox box{100, 50, 40, 30};
  const guest::Surface* bufs[] = {&back, &front};
  uint64_t last_bytes = 0;
  for (uint32_t k = 1; k <= 5; ++k) {
    const guest::Surface& s = *bufs[k % 2];
    draw(s, k, box);
    g->display().submit_damage(Pipe::A, Plane::Primary, &box, 1, /*with_next_flip=*/true);
    ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, s), Error::None);
    const uint64_t before = link->counters().bytes_copied;
    g->vgpu().vblank();
    host_vblank();
    last_bytes = link->counters().bytes_copied - before;
    EXPECT_EQ(mismatches(0, &where, box, k), 0u) << "frame " << k << ": " << where;
  }
  EXPECT_GT(last_bytes, 0u);
  EXPECT_LT(last_bytes, uint64_t{kW} * kH * 4 / 50) << "damage-only refill";
  EXPECT_EQ(link->counters().refills, 6u);
}

TEST_F(DirectFlipPipeTest, TheCursorIsOnTheCursorPlaneWhereTheGuestPutIt) {
  boot();
  guest::Buffer cur;
  ASSERT_EQ(g->driver().alloc_buffer(64 * 64 * 4, guest::Placement::Aperture, cur), Error::None);
  auto* px = g->driver().ram().at(cur.gpa, cur.size);
  for (uint32_t i = 0; i < 64 * 64; ++i) {
    const uint32_t v = 0xFF000000u | (i * 2654435761u >> 8);
    std::memcpy(px + i * 4, &v, 4);
  }
  ASSERT_EQ(g->display().set_cursor(Pipe::A, cur, 3, 4), Error::None);
  ASSERT_EQ(g->display().move_cursor(Pipe::A, -10, 20), Error::None);  // partly off the left edge
  g->vgpu().vblank();
  host_vblank();
  auto img = screen();
  ASSERT_TRUE(img);
  size_t bad = 0;
  for (uint32_t y = 0; y < kH; ++y)
    for (uint32_t x = 0; x < kW; ++x) {
      const bool in = x < 54 && y >= 20 && y < 84;
      uint32_t want = pattern(x, y, 0);
      if (in) std::memcpy(&want, px + ((y - 20) * 64 + (x + 10)) * 4, 4);
      bad += img->px[size_t{y} * kW + x] != want;
    }
  EXPECT_EQ(bad, 0u);
  const auto on_host = mon->shown_plane(link->planes().cursor);
  ASSERT_TRUE(on_host);
  EXPECT_EQ(on_host->hotspot, (hostdisplay::Hotspot{3, 4})) << "the guest's hotspot, for a host's own pointer";
}

TEST_F(DirectFlipPipeTest, BusyCommitsKeepOnlyTheNewestFrame) {
  boot();
  g->vgpu().vblank();
  host_vblank();
  draw(back, 1);
  draw(third, 2);
  ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, back), Error::None);
  g->vgpu().vblank();  // committed, in flight
  ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, third), Error::None);
  g->vgpu().vblank();  // EBUSY: deferred
  ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, back), Error::None);
  draw(back, 3);  // (the guest would wait for flip-done; the picture of the newest frame is what counts)
  g->vgpu().vblank();  // EBUSY again: replaces the deferred one
  EXPECT_EQ(link->counters().busy_deferrals, 2u);
  EXPECT_EQ(link->counters().superseded, 1u);
  host_vblank();  // the first lands; the newest goes out
  host_vblank();
  std::string where;
  EXPECT_EQ(mismatches(3, &where), 0u) << where;
  EXPECT_EQ(mon->counters().with_allow_modeset, 1u);
}

TEST_F(DirectFlipPipeTest, AGuestModeTheHostCannotScaleIsComposedScaled) {
  boot(1280, 720);
  g->vgpu().vblank();
  host_vblank();
  EXPECT_GE(link->counters().scaled_fallbacks, 1u);
  auto img = mon->scanout(crtc).image;
  ASSERT_TRUE(img);
  ASSERT_EQ(img->width, 1280u);
  fb::Image src{kW, kH, std::vector<uint32_t>(size_t{kW} * kH)};
  for (uint32_t y = 0; y < kH; ++y)
    for (uint32_t x = 0; x < kW; ++x) src.px[size_t{y} * kW + x] = pattern(x, y, 0);
  std::vector<uint32_t> want(1280u * 720u, 0);
  hostdisplay::scale_bilinear(src, want.data(), 1280, hostdisplay::fit_rect(kW, kH, 1280, 720));
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) bad += (img->px[i] & 0xFFFFFF) != (want[i] & 0xFFFFFF);
  EXPECT_EQ(bad, 0u) << "the guest's 1024x768 fitted into 1280x720, black bars at the sides";
  EXPECT_EQ(mon->counters().with_allow_modeset, 1u);
}

TEST_F(DirectFlipPipeTest, GuestPipeOffTurnsTheHostPlanesOffWithoutAModeset) {
  boot();
  g->vgpu().vblank();
  host_vblank();
  ASSERT_EQ(g->display().disable(Pipe::A), Error::None);
  host_vblank();
  auto img = screen();
  ASSERT_TRUE(img) << "the CRTC stays lit";
  size_t lit = 0;
  for (uint32_t p : img->px) lit += (p & 0xFFFFFF) != 0;
  EXPECT_EQ(lit, 0u) << "every plane off: black";
  EXPECT_EQ(mon->counters().with_allow_modeset, 1u);
}

// A link made while another's commit on its CRTC is still pending (the daemon makes a link anew
// when its vGPU's RAM is replaced: the old one's planes-off waits for the host's vblank): its
// first frame meets EBUSY and no page-flip event of its own follows, so the next guest vblank
// sends it, though the guest changed nothing.
TEST_F(DirectFlipPipeTest, AFrameDeferredBehindAnotherLinksCommitGoesOutAtTheNextVblank) {
  boot();
  g->vgpu().vblank();
  host_vblank();
  directflip::OutputPlanes planes = link->planes();
  planes.needs_bringup = false;  // lit, and it stays lit
  link.reset();                  // planes off: pending until the monitor's next vblank
  auto l = PipeLink::create(g->vgpu(), Pipe::A, *mon, planes);
  ASSERT_TRUE(l) << l.error();
  link = std::move(*l);
  g->vgpu().vblank();  // the new link's first frame: EBUSY
  EXPECT_EQ(link->counters().busy_deferrals, 1u);
  host_vblank();       // the old link's planes off latch: black, and no event for this link
  g->vgpu().vblank();  // nothing new from the guest: the deferred frame goes out
  host_vblank();
  std::string where;
  EXPECT_EQ(mismatches(0, &where), 0u) << where;
  EXPECT_EQ(link->counters().commits, 1u);
}

TEST_F(DirectFlipPipeTest, WithoutTheLinkTheVgpuCompletesFlipsAtItsOwnVblank) {
  boot();
  g->vgpu().vblank();
  host_vblank();
  link.reset();
  ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, back), Error::None);
  g->vgpu().vblank();
  EXPECT_TRUE(flip_done()) << "no host to wait for";
  host_vblank();
  auto img = screen();
  ASSERT_TRUE(img);
  size_t lit = 0;
  for (uint32_t p : img->px) lit += (p & 0xFFFFFF) != 0;
  EXPECT_EQ(lit, 0u) << "the link's planes are off";
}

}  // namespace
}  // namespace vgd
