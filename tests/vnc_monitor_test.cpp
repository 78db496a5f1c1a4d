// The virtual monitor's view (viewers::MonitorStream, docs/direct-flip.md "Watching the virtual
// monitor"): a VNC client sees exactly the pictures it is offered, a changed corner as a small
// update, a new size as a resize, and "output off" when the output goes dark.
#include <gtest/gtest.h>

#include "viewers/display_off.h"
#include "viewers/monitor_stream.h"
#include "vnc_support.h"

namespace vgd {
namespace {

using test::eventually;
using test::Viewer;

fb::Image gradient(uint32_t w, uint32_t h, uint32_t salt) {
  fb::Image img{w, h, std::vector<uint32_t>(size_t{w} * h)};
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x) img.at(x, y) = 0xFF000000u | ((x * 255 / w) << 16) | ((y * 255 / h) << 8) | salt;
  return img;
}

TEST(VncMonitor, AClientSeesEveryOfferedPictureExactly) {
  auto s = viewers::MonitorStream::start({"127.0.0.1", 0, test::kVncPassword, "monitor", {}}, 640, 480);
  ASSERT_TRUE(s) << s.error();
  viewers::MonitorStream& stream = **s;
  const fb::Image first = gradient(640, 480, 0x40);
  stream.offer(std::make_shared<const fb::Image>(first));
  Viewer viewer;
  ASSERT_TRUE(viewer.connect(stream.port()));
  EXPECT_TRUE(eventually([&] { return viewer.shows(first); })) << test::differing(viewer.picture(), first);

  // A 32x32 corner changes: only that much is sent.
  fb::Image second = first;
  for (uint32_t y = 0; y < 32; ++y)
    for (uint32_t x = 0; x < 32; ++x) second.at(x, y) = 0xFFFFFFFFu;
  const uint64_t before = viewer.log().pixels;
  stream.offer(std::make_shared<const fb::Image>(second));
  EXPECT_TRUE(eventually([&] { return viewer.shows(second); }));
  EXPECT_LE(viewer.log().pixels - before, 64u * 64u) << "more than the changed tiles were sent";

  // The output's mode changes: the client is resized and sees the new picture.
  const fb::Image big = gradient(800, 600, 0x80);
  stream.offer(std::make_shared<const fb::Image>(big));
  EXPECT_TRUE(eventually([&] { return viewer.shows(big); }));
  EXPECT_GE(viewer.log().resizes, 2u);  // the first framebuffer, then the new size
  EXPECT_GE(stream.pictures_sent(), 3u);
}

TEST(VncMonitor, AnOutputThatGoesOffShowsSoAndALateClientGetsTheCurrentPicture) {
  auto s = viewers::MonitorStream::start({"127.0.0.1", 0, test::kVncPassword, "monitor", {}}, 320, 240);
  ASSERT_TRUE(s) << s.error();
  const fb::Image pic = gradient(320, 240, 0x10);
  (*s)->offer(std::make_shared<const fb::Image>(pic));
  ASSERT_TRUE(eventually([&] { return (*s)->pictures_sent() >= 1; }));
  Viewer late;
  ASSERT_TRUE(late.connect((*s)->port()));
  EXPECT_TRUE(eventually([&] { return late.shows(pic); }));
  (*s)->offer(nullptr);  // the CRTC went off
  const fb::Image off = viewers::render_display_off(320, 240, "the host output is off");
  EXPECT_TRUE(eventually([&] { return late.shows(off); })) << test::differing(late.picture(), off);
}

}  // namespace
}  // namespace vgd
