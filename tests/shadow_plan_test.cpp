// How a guest plane reaches a host plane (docs/direct-flip.md, Shadow framebuffers): imported,
// copied (detiled), converted, composed, or refused, for the host planes a user may have.
#include <gtest/gtest.h>

#include <vector>

#include "hostdisplay/shadow_plan.h"

namespace vgd::hostdisplay {
namespace {

namespace drm = hw::drm;
constexpr uint64_t kLin = drm::kModLinear, kX = drm::kModXTiled, kY = drm::kModYTiled;
constexpr uint32_t XR24 = drm::kXRGB8888, AR24 = drm::kARGB8888, XB24 = drm::kXBGR8888, YUYV = drm::kYUYV,
                   C8 = drm::kC8, RG16 = drm::kRGB565;

decode::PlaneInfo guest(uint32_t fourcc, uint64_t modifier, uint32_t x_offset = 0) {
  decode::PlaneInfo p;
  p.fourcc = fourcc;
  p.modifier = modifier;
  p.cpp = fourcc == YUYV || fourcc == RG16 ? 2 : fourcc == C8 ? 1 : 4;
  p.width = 1024;
  p.height = 768;
  p.x_offset = x_offset;
  return p;
}

// What real planes list: an i915 primary (tiled and linear), virtio-gpu's (XR24/AR24 linear
// only), a plane without XRGB (BGR only), one without any 32-bit format.
const std::vector<FormatModifier> kI915 = {{XR24, kLin}, {XR24, kX}, {XR24, kY}, {AR24, kLin}, {AR24, kX},
                                           {XB24, kLin}, {YUYV, kLin}, {YUYV, kX}, {RG16, kLin}, {C8, kLin}};
const std::vector<FormatModifier> kVirtio = {{XR24, kLin}, {AR24, kLin}};
const std::vector<FormatModifier> kArgbOnly = {{AR24, kLin}};
const std::vector<FormatModifier> kBgrOnly = {{XB24, kLin}};

struct Case {
  const char* what;
  decode::PlaneInfo plane;
  const std::vector<FormatModifier>* host;
  PlaneConditions cond;
  ShadowMode mode;
  FormatModifier format;
  bool scaled = false;
};

TEST(ShadowPlan, EachGuestPlaneGetsTheCheapestWayTheHostTakes) {
  const Case cases[] = {
      {"host takes X-tiled XR24 and can import", guest(XR24, kX), &kI915, {true, true}, ShadowMode::Import, {XR24, kX}},
      {"host takes linear XR24 and can import", guest(XR24, kLin), &kVirtio, {true, true}, ShadowMode::Import, {XR24, kLin}},
      {"no udmabuf: linear copied as it is", guest(XR24, kLin), &kVirtio, {false, true}, ShadowMode::Copy, {XR24, kLin}},
      {"no udmabuf, tiling taken: detiled", guest(XR24, kX), &kI915, {false, true}, ShadowMode::Copy, {XR24, kLin}},
      {"Y-tiled on virtio: detile only", guest(XR24, kY), &kVirtio, {true, true}, ShadowMode::Copy, {XR24, kLin}},
      {"BGR plane the host takes: no conversion", guest(XB24, kX), &kI915, {true, true}, ShadowMode::Copy, {XB24, kLin}},
      {"BGR on virtio: converted to XR24", guest(XB24, kLin), &kVirtio, {true, true}, ShadowMode::Convert, {XR24, kLin}},
      {"YUYV on virtio: converted", guest(YUYV, kLin), &kVirtio, {true, true}, ShadowMode::Convert, {XR24, kLin}},
      {"YUYV at an odd x offset: converted", guest(YUYV, kX, 3), &kI915, {false, true}, ShadowMode::Convert, {XR24, kLin}},
      {"YUYV at an even x offset: detiled", guest(YUYV, kX, 4), &kI915, {false, true}, ShadowMode::Copy, {YUYV, kLin}},
      {"AR24 sprite keeps alpha", guest(AR24, kX), &kVirtio, {false, true}, ShadowMode::Copy, {AR24, kLin}},
      {"ABGR converted keeps alpha", guest(drm::kABGR8888, kLin), &kVirtio, {true, true}, ShadowMode::Convert, {AR24, kLin}},
      {"XR24 where only AR24 exists", guest(XR24, kLin), &kArgbOnly, {true, true}, ShadowMode::Convert, {AR24, kLin}},
      {"C8 even where the host lists C8", guest(C8, kLin), &kI915, {true, true}, ShadowMode::Convert, {XR24, kLin}},
      {"too big: composed and scaled", guest(XR24, kX), &kI915, {true, false}, ShadowMode::Compose, {XR24, kLin}, true},
      {"XRGB on a BGR-only plane: nothing", guest(XR24, kLin), &kBgrOnly, {true, true}, ShadowMode::Refuse, {}},
      {"too big for a BGR-only plane", guest(XB24, kLin), &kBgrOnly, {true, false}, ShadowMode::Refuse, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const ShadowPlan p = plan_plane(c.plane, *c.host, c.cond);
    EXPECT_EQ(p.mode, c.mode) << name(p.mode) << ": " << p.reason;
    EXPECT_EQ(p.format, c.format) << p.reason;
    EXPECT_EQ(p.scaled, c.scaled);
    EXPECT_FALSE(p.reason.empty());
  }
}

TEST(ShadowPlan, ReasonsSayWhatTheHostLacks) {
  EXPECT_NE(plan_plane(guest(XR24, kY), kVirtio, {true, true}).reason.find("XR24 linear"), std::string::npos);
  EXPECT_NE(plan_plane(guest(XR24, kLin), kBgrOnly, {true, true}).reason.find("neither XR24 nor AR24"), std::string::npos);
  EXPECT_NE(plan_plane(guest(XR24, kLin), kVirtio, {true, false}).reason.find("1024x768"), std::string::npos);
}

TEST(ShadowPlan, AFormatWeCannotReadIsRefused) {
  decode::PlaneInfo p = guest(drm::kXRGB2101010, kLin);
  p.fourcc = hw::fourcc('N', 'V', '1', '2');  // decoded nowhere: no converter, no copy
  EXPECT_EQ(plan_plane(p, kI915, {true, true}).mode, ShadowMode::Refuse);
  p = guest(XR24, kLin);
  p.cpp = 2;  // disagrees with the format
  EXPECT_EQ(plan_plane(p, kI915, {true, true}).mode, ShadowMode::Refuse);
}

TEST(ShadowPlan, ASpriteGoesToTheOverlayPlaneWhenThereIsOne) {
  const decode::PlaneInfo primary = guest(XR24, kX), sprite = guest(AR24, kLin);
  PipeConditions c{kI915, std::span<const FormatModifier>(kVirtio), true, true, true};
  PipePlan p = plan_pipe(primary, &sprite, c);
  EXPECT_EQ(p.primary.mode, ShadowMode::Import);
  ASSERT_TRUE(p.sprite);
  EXPECT_EQ(p.sprite->mode, ShadowMode::Import);
  EXPECT_FALSE(p.sprite_composed);

  // No overlay: the sprite is composed over the primary, which then needs a shadow.
  c.overlay_formats.reset();
  p = plan_pipe(primary, &sprite, c);
  EXPECT_FALSE(p.sprite);
  EXPECT_TRUE(p.sprite_composed);
  EXPECT_EQ(p.primary.mode, ShadowMode::Compose);
  EXPECT_FALSE(p.primary.scaled);
  EXPECT_NE(p.primary.reason.find("no overlay plane"), std::string::npos);

  // An overlay that cannot show it (BGR only), or not at its size: composed as well.
  c.overlay_formats = std::span<const FormatModifier>(kBgrOnly);
  EXPECT_TRUE(plan_pipe(primary, &sprite, c).sprite_composed);
  c.overlay_formats = std::span<const FormatModifier>(kVirtio);
  c.sprite_fits = false;
  EXPECT_TRUE(plan_pipe(primary, &sprite, c).sprite_composed);

  // A primary that does not fit is composed and scaled, the sprite with it.
  c.primary_fits = false;
  p = plan_pipe(primary, &sprite, c);
  EXPECT_EQ(p.primary.mode, ShadowMode::Compose);
  EXPECT_TRUE(p.primary.scaled);
  EXPECT_TRUE(p.sprite_composed);

  // No sprite: the primary's own plan.
  p = plan_pipe(primary, nullptr, c);
  EXPECT_FALSE(p.sprite_composed);
  EXPECT_FALSE(p.sprite);
}

}  // namespace
}  // namespace vgd::hostdisplay
