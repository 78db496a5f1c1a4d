// The direct-flip tests' guest and host (docs/direct-flip.md, The engine): an in-process guest
// with three 1024x768 surfaces whose pipe A is put on a virtual monitor (virtual clock) by a
// PipeLink, known pictures per frame, and the monitor's scan-out compared with them.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "directflip/pipe_link.h"
#include "hostdisplay/virtual_monitor.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd::test {

using directflip::PipeLink;
using guest::Error;
using guest::PixelFormat;
using hostdisplay::VirtualMonitor;
using hw::Pipe;
using hw::Plane;

inline constexpr uint32_t kW = 1024, kH = 768;

// A picture that differs per frame in every pixel: opaque, position and frame mixed in.
inline uint32_t pattern(uint32_t x, uint32_t y, uint32_t frame) {
  return 0xFF000000u | ((x * 7 + frame * 31) & 0xFF) << 16 | ((y * 3 + frame * 17) & 0xFF) << 8 | ((x ^ y) & 0xFF);
}

// The monitor behind a display that cannot import guest memory (a KMS device without PRIME, or
// a host without /dev/udmabuf): the link must use shadows. With `vblanks` false it has no vblank
// events either, as virtio-gpu (docs/direct-flip.md, Vblank events (KMS)).
class LimitedDisplay final : public hostdisplay::HostDisplay {
 public:
  explicit LimitedDisplay(hostdisplay::HostDisplay& d, bool imports = false, bool vblanks = true)
      : d_(&d), imports_(imports), vblanks_(vblanks) {}
  std::string name() const override { return imports_ ? "no-vblanks" : "no-import"; }
  const hostdisplay::Resources& resources() const override { return d_->resources(); }
  Expected<bool, std::string> refresh() override { return d_->refresh(); }
  Expected<hostdisplay::BufferRef, std::string> create_buffer(uint32_t w, uint32_t h, uint32_t f) override {
    return d_->create_buffer(w, h, f);
  }
  Expected<hostdisplay::BufferRef, std::string> import(int fd, const hostdisplay::BufferLayout& l) override {
    if (imports_) return d_->import(fd, l);
    return Unexpected(std::string("this display cannot import"));
  }
  Expected<bool, hostdisplay::CommitError> commit(const hostdisplay::State& s, uint32_t fl, uint64_t u) override {
    return d_->commit(s, fl, u);
  }
  int event_fd() const override { return d_->event_fd(); }
  Expected<bool, std::string> watch_vblanks(uint32_t crtc, bool on) override {
    if (vblanks_) return d_->watch_vblanks(crtc, on);
    return Unexpected(std::string("the driver has no vblank interrupts (Operation not supported, errno 95)"));
  }
  using HostDisplay::dispatch;
  void dispatch(const hostdisplay::EventHandlers& h) override { d_->dispatch(h); }
  hostdisplay::CommitCounters counters() const override { return d_->counters(); }

 private:
  hostdisplay::HostDisplay* d_;
  bool imports_, vblanks_;
};

class DirectFlipTest : public GpuTest {
 protected:
  void boot(uint32_t host_w = kW, uint32_t host_h = kH, bool can_import = true, bool vblank_events = true,
            const guest::Mode& mode = guest::kMode1024x768at60) {
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
    ASSERT_EQ(g->display().modeset(Pipe::A, mode, front), Error::None);
    auto planes = directflip::choose_planes(mon->resources(), "Virtual-1");
    ASSERT_TRUE(planes) << planes.error();
    crtc = planes->crtc_id;
    no_import = std::make_unique<LimitedDisplay>(*mon, false, vblank_events);
    limited = std::make_unique<LimitedDisplay>(*mon, true, vblank_events);
    hostdisplay::HostDisplay& d = !can_import ? *no_import : !vblank_events ? *limited : static_cast<hostdisplay::HostDisplay&>(*mon);
    auto l = PipeLink::create(g->vgpu(), Pipe::A, d, *planes);
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
  // ... and acknowledges it, as the guest does.
  bool take_flip_done() {
    const bool set = flip_done();
    wr(g->vgpu(), hw::irq::iir(Pipe::A), hw::irq::flip_done(Plane::Primary));
    return set;
  }
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
  std::unique_ptr<LimitedDisplay> no_import, limited;
  std::unique_ptr<PipeLink> link;
  guest::Surface front, back, third;
  uint32_t crtc = 0;
};

}  // namespace vgd::test
