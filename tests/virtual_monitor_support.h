// A virtual monitor on virtual time with two small outputs, and helpers to light them, fill
// buffers with known patterns and put planes on them.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "fb/image.h"
#include "hostdisplay/virtual_monitor.h"
#include "hw/formats.h"

namespace vgd::hostdisplay::test {

namespace drm = hw::drm;

inline constexpr uint64_t kStart = 7'000'000'123;  // an arbitrary clock start, so "start +" is checked
inline constexpr uint64_t k60Hz = 16'666'667;      // round(10^12 / 60000) ns
inline constexpr uint64_t k50Hz = 20'000'000;

inline const Mode kBig{320, 200, 60'000, "320x200", true, {}};
inline const Mode kSmall{256, 160, 50'000, "256x160", false, {}};

// A pixel of a pattern that differs at every (x, y) of a small buffer, opaque after conversion.
inline uint32_t pattern_px(uint32_t x, uint32_t y, uint32_t seed) { return (x * 7 + y * 131 + seed * 977) & 0xFFFFFF; }

inline bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// Fills a 4-byte-per-pixel buffer's rows (pixels() with its pitch) with v(x, y).
template <class F>
void fill32(Buffer& b, F v) {
  const BufferLayout& l = b.layout();
  for (uint32_t y = 0; y < l.height; ++y)
    for (uint32_t x = 0; x < l.width; ++x) {
      const uint32_t px = v(x, y);
      std::memcpy(b.pixels().data() + uint64_t{y} * l.pitch[0] + uint64_t{x} * 4, &px, 4);
    }
}

// A memfd of `size` bytes holding `bytes` at `offset`.
inline UniqueFd memfd_with(size_t size, uint64_t offset, const std::vector<std::byte>& bytes) {
  UniqueFd fd(::memfd_create("vmon-test", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  EXPECT_EQ(::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
  return fd;
}

class VirtualMonitorTest : public testing::Test {
 protected:
  void SetUp() override {
    VirtualMonitorOptions o;
    o.modes = {kBig, kSmall};
    o.clock = VirtualMonitorOptions::Clock::Virtual;
    o.start_ns = kStart;
    auto m = VirtualMonitor::create(o);
    ASSERT_TRUE(m) << m.error();
    mon = std::move(*m);
    const Resources& r = mon->resources();
    crtc = r.crtcs[0].id;
    crtc2 = r.crtcs[1].id;
    connector = r.outputs[0].connector_id;
    connector2 = r.outputs[1].connector_id;
    primary = r.planes[0].id;
    overlay = r.planes[1].id;
    cursor = r.planes[2].id;
    primary2 = r.planes[3].id;
  }

  // A modeset that lights CRTC 1 (or 2) with its connector in `mode`.
  State light_state(uint32_t c, uint32_t conn, const Mode& mode) const {
    State s;
    s.crtcs.push_back(CrtcState{c, true, mode, conn});
    return s;
  }
  void light(const Mode& mode = kBig) {
    auto r = mon->commit(light_state(crtc, connector, mode), kAllowModeset);
    ASSERT_TRUE(r) << r.error().what;
  }

  BufferRef buffer(uint32_t w, uint32_t h, uint32_t fourcc = drm::kXRGB8888) {
    auto b = mon->create_buffer(w, h, fourcc);
    EXPECT_TRUE(b) << b.error();
    return b ? *b : nullptr;
  }
  // A buffer with pattern_px(x, y, seed) in every pixel.
  BufferRef pattern(uint32_t w, uint32_t h, uint32_t seed) {
    BufferRef b = buffer(w, h);
    fill32(*b, [seed](uint32_t x, uint32_t y) { return pattern_px(x, y, seed); });
    return b;
  }
  BufferRef solid(uint32_t w, uint32_t h, uint32_t argb, uint32_t fourcc = drm::kARGB8888) {
    BufferRef b = buffer(w, h, fourcc);
    fill32(*b, [argb](uint32_t, uint32_t) { return argb; });
    return b;
  }

  // The whole of `b` on `plane` at (x, y), unscaled.
  static PlaneState on(uint32_t plane, uint32_t c, const BufferRef& b, int32_t x = 0, int32_t y = 0) {
    const BufferLayout& l = b->layout();
    return PlaneState{plane, c, b, 0, 0, fixed16(l.width), fixed16(l.height), x, y, l.width, l.height, {}};
  }
  static PlaneState off(uint32_t plane) {
    PlaneState p;
    p.plane_id = plane;
    return p;
  }
  static State planes(std::vector<PlaneState> ps) {
    State s;
    s.planes = std::move(ps);
    return s;
  }
  void commit_ok(const State& s, uint32_t flags = 0, uint64_t user_data = 0) {
    auto r = mon->commit(s, flags, user_data);
    ASSERT_TRUE(r) << r.error().what;
  }

  std::vector<FlipEvent> drain() {
    std::vector<FlipEvent> out;
    mon->dispatch([&](const FlipEvent& e) { out.push_back(e); });
    return out;
  }
  const fb::Image& screen(uint32_t c = 0) {
    last = mon->scanout(c ? c : crtc);
    EXPECT_TRUE(last.image) << "CRTC scans out nothing";
    static const fb::Image kNone;
    return last.image ? *last.image : kNone;
  }

  std::unique_ptr<VirtualMonitor> mon;
  uint32_t crtc = 0, crtc2 = 0, connector = 0, connector2 = 0;
  uint32_t primary = 0, overlay = 0, cursor = 0, primary2 = 0;
  VirtualMonitor::Frame last;
};

}  // namespace vgd::hostdisplay::test
