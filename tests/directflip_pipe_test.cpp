// The direct-flip engine end to end (docs/direct-flip.md, The engine): an in-process guest flips
// known pictures on a vGPU whose pipe is put on a virtual monitor, and what the monitor scans out
// is the guest's picture, pixel for pixel, or scaled when the modes differ; the guest's
// flip-done waits for the host's page flip; nothing after the bring-up modesets.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "directflip/pipe_link.h"
#include "fb/image.h"
#include "hostdisplay/shadow_refill.h"
#include "hostdisplay/virtual_monitor.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd {
namespace {

using directflip::PipeLink;
using guest::Error;
using guest::PixelFormat;
using hostdisplay::VirtualMonitor;
using hw::Pipe;
using hw::Plane;

constexpr uint32_t kW = 1024, kH = 768;

// A picture that differs per frame in every pixel: opaque, position and frame mixed in.
uint32_t pattern(uint32_t x, uint32_t y, uint32_t frame) {
  return 0xFF000000u | ((x * 7 + frame * 31) & 0xFF) << 16 | ((y * 3 + frame * 17) & 0xFF) << 8 | ((x ^ y) & 0xFF);
}

// The monitor behind a display that cannot import guest memory (a KMS device without PRIME, or
// a host without /dev/udmabuf): the link must use shadows.
class NoImport final : public hostdisplay::HostDisplay {
 public:
  explicit NoImport(hostdisplay::HostDisplay& d) : d_(&d) {}
  std::string name() const override { return "no-import"; }
  const hostdisplay::Resources& resources() const override { return d_->resources(); }
  Expected<bool, std::string> refresh() override { return d_->refresh(); }
  Expected<hostdisplay::BufferRef, std::string> create_buffer(uint32_t w, uint32_t h, uint32_t f) override {
    return d_->create_buffer(w, h, f);
  }
  Expected<hostdisplay::BufferRef, std::string> import(int, const hostdisplay::BufferLayout&) override {
    return Unexpected(std::string("this display cannot import"));
  }
  Expected<bool, hostdisplay::CommitError> commit(const hostdisplay::State& s, uint32_t fl, uint64_t u) override {
    return d_->commit(s, fl, u);
  }
  int event_fd() const override { return d_->event_fd(); }
  Expected<bool, std::string> watch_vblanks(uint32_t crtc, bool on) override { return d_->watch_vblanks(crtc, on); }
  using HostDisplay::dispatch;
  void dispatch(const hostdisplay::EventHandlers& h) override { d_->dispatch(h); }
  hostdisplay::CommitCounters counters() const override { return d_->counters(); }

 private:
  hostdisplay::HostDisplay* d_;
};

class DirectFlipPipeTest : public test::GpuTest {
 protected:
  void boot(uint32_t host_w = kW, uint32_t host_h = kH, bool can_import = true) {
    g = std::make_unique<InProcessGuest>(create(), gpu->geometry());
    ASSERT_EQ(g->driver().probe(), Error::None);
    ASSERT_EQ(g->driver().balloon(), Error::None);
    hostdisplay::VirtualMonitorOptions o;
    o.outputs = 1;
    o.modes = {hostdisplay::Mode{host_w, host_h, 60'000, fmt::format("{}x{}", host_w, host_h), true, {}}};
    o.clock = hostdisplay::VirtualMonitorOptions::Clock::Virtual;
    auto m = VirtualMonitor::create(o);
    ASSERT_TRUE(m) << m.error();
    mon = std::move(*m);
    for (auto* s : {&front, &back, &third})
      ASSERT_EQ(g->display().create_surface(kW, kH, PixelFormat::Xrgb8888, hw::Tiling::Linear, *s), Error::None);
    draw(front, 0);
    ASSERT_EQ(g->display().modeset(Pipe::A, guest::kMode1024x768at60, front), Error::None);
    auto planes = directflip::choose_planes(mon->resources(), "Virtual-1");
    ASSERT_TRUE(planes) << planes.error();
    crtc = planes->crtc_id;
    no_import = std::make_unique<NoImport>(*mon);
    auto l = PipeLink::create(g->vgpu(), Pipe::A, can_import ? *mon : static_cast<hostdisplay::HostDisplay&>(*no_import),
                              *planes);
    ASSERT_TRUE(l) << l.error();
    link = std::move(*l);
  }
  void draw(const guest::Surface& s, uint32_t frame, guest::DamageBox b = {0, 0, kW, kH}) {
    auto* px = g->driver().ram().at(s.buffer.gpa, s.buffer.size);
    ASSERT_NE(px, nullptr);
    for (uint32_t y = b.y; y < uint32_t{b.y} + b.h; ++y)
      for (uint32_t x = b.x; x < uint32_t{b.x} + b.w; ++x) {
        const uint32_t v = pattern(x, y, frame);
        std::memcpy(px + size_t{y} * s.stride + x * 4, &v, 4);
      }
  }
  // The monitor's next vblank, its page-flip events handed to the link.
  void host_vblank() {
    ASSERT_TRUE(mon->advance_to_next_vblank());
    mon->dispatch([this](const hostdisplay::FlipEvent& e) {
      if (link) link->on_flip(e);
    });
  }
  bool flip_done() { return (rd(g->vgpu(), hw::irq::iir(Pipe::A)) & hw::irq::flip_done(Plane::Primary)) != 0; }
  std::shared_ptr<const fb::Image> screen() { return mon->scanout(crtc).image; }
  // Pixels of the screen that differ from pattern `frame` (the first one in `where`).
  // ... or of pattern `inside` in box b and `frame` around it.
  size_t mismatches(uint32_t frame, std::string* where = nullptr, guest::DamageBox b = {}, uint32_t inside = 0) {
    auto img = screen();
    if (!img || img->width != kW || img->height != kH) return SIZE_MAX;
    size_t bad = 0;
    for (uint32_t y = 0; y < kH; ++y)
      for (uint32_t x = 0; x < kW; ++x) {
        const bool in = x >= b.x && x < uint32_t{b.x} + b.w && y >= b.y && y < uint32_t{b.y} + b.h;
        const uint32_t want = pattern(x, y, in ? inside : frame);
        if (img->px[size_t{y} * kW + x] != want && bad++ == 0 && where)
          *where = fmt::format("({}, {}): {:08x} != {:08x}", x, y, img->px[size_t{y} * kW + x], want);
      }
    return bad;
  }

  std::unique_ptr<InProcessGuest> g;
  std::unique_ptr<VirtualMonitor> mon;
  std::unique_ptr<NoImport> no_import;
  std::unique_ptr<PipeLink> link;
  guest::Surface front, back, third;
  uint32_t crtc = 0;
};

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
