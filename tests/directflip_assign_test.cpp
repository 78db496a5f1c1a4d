// Which host CRTC and planes a guest pipe gets on an output (docs/direct-flip.md, Assignment):
// the output's own CRTC and its planes, a free CRTC for an output that is off (with the one
// modeset of bring-up), and clear refusals.
#include <gtest/gtest.h>

#include "directflip/assign.h"

namespace vgd::directflip {
namespace {

using hostdisplay::CrtcInfo;
using hostdisplay::Mode;
using hostdisplay::OutputInfo;
using hostdisplay::PlaneInfo;
using hostdisplay::PlaneType;
using hostdisplay::Resources;

const Mode k1080{1920, 1080, 60000, "1920x1080", true, {}};
const Mode k720{1280, 720, 60000, "1280x720", false, {}};

// Two outputs as virtio-gpu with two heads shows them: a CRTC each with a primary and a cursor;
// CRTC 0 lit on Virtual-1, CRTC 1 off; one overlay that either CRTC may use.
Resources two_heads() {
  Resources r;
  r.outputs = {{30, "Virtual-1", true, 10, 0b11, {k1080, k720}}, {31, "Virtual-2", true, 0, 0b11, {k720, k1080}}};
  r.crtcs = {{10, 0, true, k1080}, {11, 1, false, std::nullopt}};
  r.planes = {{20, PlaneType::Primary, 0b01, {}, 0}, {21, PlaneType::Cursor, 0b01, {}, 2},
              {22, PlaneType::Primary, 0b10, {}, 0}, {23, PlaneType::Cursor, 0b10, {}, 2},
              {24, PlaneType::Overlay, 0b11, {}, 1}};
  return r;
}

TEST(DirectFlipAssign, ALitOutputKeepsItsCrtcAndModeWithItsOwnPlanes) {
  const auto p = choose_planes(two_heads(), "Virtual-1");
  ASSERT_TRUE(p.has_value()) << p.error();
  EXPECT_EQ(p->connector_id, 30u);
  EXPECT_EQ(p->crtc_id, 10u);
  EXPECT_EQ(p->primary, 20u);
  EXPECT_EQ(p->cursor, 21u);
  EXPECT_EQ(p->overlay, 24u);
  EXPECT_TRUE(p->mode.same_timing(k1080));
  EXPECT_FALSE(p->needs_bringup) << "a lit output is never modeset";
}

TEST(DirectFlipAssign, AnOutputThatIsOffGetsAFreeCrtcAndItsPreferredMode) {
  const auto p = choose_planes(two_heads(), "Virtual-2");
  ASSERT_TRUE(p.has_value()) << p.error();
  EXPECT_EQ(p->crtc_id, 11u) << "CRTC 10 drives Virtual-1";
  EXPECT_EQ(p->primary, 22u);
  EXPECT_EQ(p->cursor, 23u);
  EXPECT_TRUE(p->needs_bringup);
  EXPECT_TRUE(p->mode.same_timing(k1080)) << "the preferred mode, though listed second";
}

TEST(DirectFlipAssign, PlanesOtherAssignmentsHoldAreNotGivenTwice) {
  const auto first = choose_planes(two_heads(), "Virtual-1");
  ASSERT_TRUE(first.has_value());
  const std::vector<uint32_t> taken{first->crtc_id, first->primary, first->overlay, first->cursor};
  const auto second = choose_planes(two_heads(), "Virtual-2", taken);
  ASSERT_TRUE(second.has_value()) << second.error();
  EXPECT_EQ(second->overlay, 0u) << "the one overlay went to Virtual-1: the sprite is composed";
  const auto again = choose_planes(two_heads(), "Virtual-1", taken);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error(), "output Virtual-1 is already assigned");
}

TEST(DirectFlipAssign, RefusalsSayWhy) {
  Resources r = two_heads();
  EXPECT_EQ(choose_planes(r, "HDMI-A-1").error(), "no output named HDMI-A-1");
  r.outputs[1].possible_crtcs = 0b01;  // only the CRTC Virtual-1 uses
  EXPECT_EQ(choose_planes(r, "Virtual-2").error(), "output Virtual-2 has no free CRTC");
  r = two_heads();
  r.planes.erase(r.planes.begin() + 2);  // CRTC 11's primary
  EXPECT_EQ(choose_planes(r, "Virtual-2").error(), "output Virtual-2: its CRTC has no primary plane");
  r = two_heads();
  r.outputs[0].modes.clear();
  r.outputs[1].modes.clear();
  EXPECT_EQ(choose_planes(r, "Virtual-2").error(), "output Virtual-2 lists no mode, nor does any other");
}

// virtio-gpu's second head before a UI sized it: disconnected, no modes, its CRTC dark.
TEST(DirectFlipAssign, AnOutputListingNoModeBorrowsTheFirstListedOne) {
  Resources r = two_heads();
  r.outputs[1].connected = false;
  r.outputs[1].modes.clear();
  const auto p = choose_planes(r, "Virtual-2");
  ASSERT_TRUE(p.has_value()) << p.error();
  EXPECT_TRUE(p->mode.same_timing(k1080)) << "Virtual-1's preferred mode, not " << p->mode.name;
  EXPECT_TRUE(p->needs_bringup);
}

}  // namespace
}  // namespace vgd::directflip
