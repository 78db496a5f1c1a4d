// How a guest plane reaches a host plane (docs/direct-flip.md, Shadow framebuffers): its pages
// imported as they are, or a shadow framebuffer refilled from them — copied (detiled when the
// host cannot scan out the guest's tiling), converted to a format the host takes, or composed
// with the sprite and scaled to the host's mode. Pure policy: the direct-flip engine runs the
// TEST_ONLY commits and passes their answers in.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "decode/plane.h"
#include "hostdisplay/host_display.h"

namespace vgd::hostdisplay {

enum class ShadowMode : uint8_t {
  Import,   // the guest's pages as a dma-buf (udmabuf), scanned out as they are: no copy
  Copy,     // a linear shadow of the guest's format: bytes copied, tiles detiled
  Convert,  // a linear shadow in a format the host takes: pixels converted
  Compose,  // primary, sprite (and cursor) composed into one linear shadow, scaled if need be
  Refuse,   // the host plane takes nothing we can produce
};

std::string_view name(ShadowMode m);

struct ShadowPlan {
  ShadowMode mode = ShadowMode::Refuse;
  FormatModifier format;  // what the host plane is given (the guest's own for Import)
  bool scaled = false;    // Compose only: into a shadow of the host mode's size
  std::string reason;     // why, for the log and the debug dump
};

struct PlaneConditions {
  // /dev/udmabuf exists and the host display imports dma-bufs (PRIME).
  bool can_import = false;
  // The host plane takes the guest's size on its CRTC: as it is, or scaled (a TEST_ONLY commit
  // with plane scaling succeeded). Otherwise only a composed, scaled shadow fits.
  bool fits = true;
};

// The formats a shadow can be converted or composed to (the converters write 0xAARRGGBB
// words), best first for a guest format without alpha.
inline constexpr uint32_t kConvertTargets[] = {hw::drm::kXRGB8888, hw::drm::kARGB8888};

// The way for one guest plane onto a host plane scanning out `host` (format, modifier) pairs.
ShadowPlan plan_plane(const decode::PlaneInfo& guest, std::span<const FormatModifier> host, PlaneConditions c);

// The primary (and sprite, if on) of one guest pipe onto a CRTC's primary plane and, when the
// CRTC has a free one, an overlay plane.
struct PipeConditions {
  std::span<const FormatModifier> primary_formats;
  std::optional<std::span<const FormatModifier>> overlay_formats;  // nullopt: no overlay plane
  bool can_import = false;
  bool primary_fits = true;
  bool sprite_fits = true;  // on the overlay plane
};

struct PipePlan {
  ShadowPlan primary;
  std::optional<ShadowPlan> sprite;  // on the overlay plane; nullopt: off, or composed
  bool sprite_composed = false;      // into the primary's shadow (primary.mode is Compose)
};

// The sprite goes to the overlay plane when there is one that takes it; else it is composed
// into the primary's shadow, which then cannot be an import or a plain copy.
PipePlan plan_pipe(const decode::PlaneInfo& primary, const decode::PlaneInfo* sprite, const PipeConditions& c);

}  // namespace vgd::hostdisplay
