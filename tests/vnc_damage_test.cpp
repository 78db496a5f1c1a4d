// VncStream with damage hints (docs/viewers.md): a guest that gives them has only the tiles
// inside its hints compared and sent; one that does not is compared everywhere, as before.
#include <gtest/gtest.h>

#include "daemon_support.h"
#include "vnc_support.h"
#include "viewers/vnc_stream.h"

namespace vgd::test {
namespace {

// A band of colour drawn in place (front-buffer rendering, no flip).
void band(guest::Canvas& c, int32_t x, int32_t y, uint32_t colour) { c.fill_rect(x, y, 64, 16, colour); }

TEST(VncDamageTest, OnlyHintedAreasAreSentAndThePictureEndsExact) {
  RunningDaemon d;
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};
  d.start(cfg, "vnc-hints");
  auto stream = viewers::VncStream::start(vnc_options(d.path));
  ASSERT_TRUE(stream.has_value()) << stream.error();
  Viewer v;
  ASSERT_TRUE(v.connect((*stream)->port()));
  d.host->stop_guests();
  d.host->find(1)->session().stop();
  HandGuest g(*d.host, 1);
  g.light(guest::kMode1024x768at60, [](guest::Canvas& c) { c.clear(0xFF202830); });
  const auto follows = [&] {
    const fb::Image want = daemon_picture(d.path, 1, false);
    return eventually([&] { return v.shows(want); });
  };
  ASSERT_TRUE(follows()) << "the lit picture";
  guest::Canvas front = g.canvas(0);

  // Without hints: the change is found by comparing tiles (the front-buffer heuristic's events).
  band(front, 100, 100, 0xFFFF0000);
  ASSERT_TRUE(follows()) << "an unhinted change";
  EXPECT_EQ((*stream)->stats().hinted_frames, 0u);

  // Hints on: a hinted change goes out; one the guest did not describe is not looked for.
  ASSERT_EQ(g.display().set_damage_hints(true), guest::Error::None);
  // The stream takes the whole-plane damage of switching them on with its first hinted frame.
  ASSERT_TRUE(eventually([&] { return (*stream)->stats().hinted_frames > 0; }));
  band(front, 800, 40, 0xFF00FF00);
  band(front, 40, 600, 0xFF0000FF);  // not described
  const guest::DamageBox hinted{800, 40, 64, 16};
  g.display().submit_damage(hw::Pipe::A, hw::Plane::Primary, &hinted, 1, false);
  ASSERT_TRUE(eventually([&] { return v.picture().at(810, 45) == 0xFF00FF00u; })) << "the hinted band";
  std::this_thread::sleep_for(300ms);  // anything else in flight lands
  const fb::Image seen = v.picture();
  EXPECT_EQ(seen.at(50, 605), 0xFF202830u) << "the undescribed band was not sent";
  EXPECT_GT((*stream)->stats().hinted_frames, 0u);

  // Described after all: the picture is exact.
  const guest::DamageBox late{40, 600, 64, 16};
  g.display().submit_damage(hw::Pipe::A, hw::Plane::Primary, &late, 1, false);
  EXPECT_TRUE(follows()) << differing(v.picture(), daemon_picture(d.path, 1, false)) << " pixels differ";
}

}  // namespace
}  // namespace vgd::test
