#include "hostdisplay/shadow_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "fb/convert.h"

namespace vgd::hostdisplay {
namespace {

namespace drm = hw::drm;

// "XR24 X-tiled": fourcc as its four characters, modifier by name for the ones a guest uses.
std::string describe(FormatModifier f) {
  std::string s;
  for (int i = 0; i < 4; ++i) s += static_cast<char>(f.fourcc >> (8 * i) & 0xFF);
  switch (f.modifier) {
    case drm::kModLinear: return s + " linear";
    case drm::kModXTiled: return s + " X-tiled";
    case drm::kModYTiled: return s + " Y-tiled";
    case drm::kModYfTiled: return s + " Yf-tiled";
    default: return fmt::format("{} modifier {:#x}", s, f.modifier);
  }
}

bool takes(std::span<const FormatModifier> host, FormatModifier f) {
  return std::find(host.begin(), host.end(), f) != host.end();
}

bool has_alpha(uint32_t fourcc) { return fourcc == drm::kARGB8888 || fourcc == drm::kABGR8888; }

// The first conversion target the host scans out linear: ARGB first when the guest's alpha
// matters (a sprite blended on an overlay plane), XRGB first otherwise.
std::optional<FormatModifier> convert_target(std::span<const FormatModifier> host, bool keep_alpha) {
  uint32_t order[2] = {kConvertTargets[0], kConvertTargets[1]};
  if (keep_alpha) std::swap(order[0], order[1]);
  for (uint32_t t : order)
    if (takes(host, {t, drm::kModLinear})) return FormatModifier{t, drm::kModLinear};
  return std::nullopt;
}

ShadowPlan refuse(std::string why) { return {ShadowMode::Refuse, {}, false, std::move(why)}; }

ShadowPlan compose(std::span<const FormatModifier> host, bool scaled, std::string why) {
  const auto target = convert_target(host, false);
  if (!target) return refuse(why + ", and the host plane takes neither XR24 nor AR24 linear to compose into");
  return {ShadowMode::Compose, *target, scaled, std::move(why)};
}

ShadowPlan convert(std::span<const FormatModifier> host, FormatModifier guest, std::string why) {
  const auto target = convert_target(host, has_alpha(guest.fourcc));
  if (!target) return refuse(why + ", and it takes neither XR24 nor AR24 linear to convert to");
  return {ShadowMode::Convert, *target, false, fmt::format("{}: converted to {}", why, describe(*target))};
}

}  // namespace

std::string_view name(ShadowMode m) {
  switch (m) {
    case ShadowMode::Import: return "import";
    case ShadowMode::Copy: return "copy";
    case ShadowMode::Convert: return "convert";
    case ShadowMode::Compose: return "compose";
    case ShadowMode::Refuse: return "refuse";
  }
  return "?";
}

ShadowPlan plan_plane(const decode::PlaneInfo& guest, std::span<const FormatModifier> host, PlaneConditions c) {
  if (!c.fits)
    return compose(host, true, fmt::format("{}x{} does not fit the host plane, scaled or not", guest.width, guest.height));
  if (fb::format_cpp(guest.fourcc) == 0 || fb::format_cpp(guest.fourcc) != guest.cpp)
    return refuse(fmt::format("guest format {} is not one we read", describe({guest.fourcc, guest.modifier})));
  const FormatModifier mine{guest.fourcc, guest.modifier};
  const FormatModifier linear{guest.fourcc, drm::kModLinear};
  // The host CRTC's colour lookup is not the guest's palette (which we do not emulate): C8 is
  // shown the way every other consumer renders it.
  if (guest.fourcc == drm::kC8) return convert(host, mine, "C8 needs the guest's palette");
  if (c.can_import && takes(host, mine))
    return {ShadowMode::Import, mine, false, fmt::format("the host scans out {} as it is", describe(mine))};
  if (!takes(host, linear))
    return convert(host, mine, fmt::format("the host plane does not take {}", describe(linear)));
  // A packed 4:2:2 window starting at an odd pixel begins mid-macropixel: a byte copy would pair
  // the wrong chroma with each pixel, a conversion reads the whole macropixel.
  if (fb::pixels_per_group(guest.fourcc) > 1 && guest.x_offset % fb::pixels_per_group(guest.fourcc) != 0)
    return convert(host, mine, fmt::format("{} window starts mid-macropixel (x offset {})", describe(mine), guest.x_offset));
  if (guest.modifier != drm::kModLinear && takes(host, mine))
    return {ShadowMode::Copy, linear, false,
            fmt::format("the host takes {} but cannot import (no udmabuf or PRIME): detiled into a linear copy", describe(mine))};
  if (guest.modifier != drm::kModLinear)
    return {ShadowMode::Copy, linear, false,
            fmt::format("the host takes {} only linear: detiled", describe(linear))};
  return {ShadowMode::Copy, linear, false, fmt::format("{} copied: no import (no udmabuf or PRIME)", describe(linear))};
}

PipePlan plan_pipe(const decode::PlaneInfo& primary, const decode::PlaneInfo* sprite, const PipeConditions& c) {
  PipePlan p;
  p.primary = plan_plane(primary, c.primary_formats, {c.can_import, c.primary_fits});
  if (!sprite) return p;
  if (c.overlay_formats) {
    ShadowPlan s = plan_plane(*sprite, *c.overlay_formats, {c.can_import, c.sprite_fits});
    // A composed sprite plane would be a picture of its own at the host mode's size, hiding the
    // primary: compose the pair instead.
    if (s.mode != ShadowMode::Refuse && s.mode != ShadowMode::Compose) {
      p.sprite = std::move(s);
      return p;
    }
  }
  p.sprite_composed = true;
  if (p.primary.mode == ShadowMode::Compose || p.primary.mode == ShadowMode::Refuse) return p;
  std::string why = c.overlay_formats ? "the overlay plane cannot show the sprite" : "no overlay plane for the sprite";
  p.primary = compose(c.primary_formats, false, why + ": composed over the primary");
  return p;
}

}  // namespace vgd::hostdisplay
