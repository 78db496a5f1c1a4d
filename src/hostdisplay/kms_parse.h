// Pure pieces of the KMS backend (docs/direct-flip.md, The KMS backend): what KMS hands over as
// numbers and blobs, turned into the host-display vocabulary without touching a device, so unit
// tests cover them without libdrm or a GPU.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hostdisplay/host_display.h"
#include "util/expected.h"

namespace vgd::hostdisplay::kms {

// "<type>-<type_id>" with the kernel's connector type names: "Virtual-1", "HDMI-A-2".
std::string connector_name(uint32_t connector_type, uint32_t connector_type_id);

// The "type" property of a plane (DRM_PLANE_TYPE_OVERLAY 0, PRIMARY 1, CURSOR 2).
std::optional<PlaneType> plane_type(uint64_t value);

// Every format+modifier pair of an IN_FORMATS blob (struct drm_format_modifier_blob followed by
// its format and modifier arrays). A blob that does not hold together (short, offsets or counts
// outside it, an unknown version) is an error, not a partial list.
Expected<std::vector<FormatModifier>, std::string> parse_in_formats(std::span<const uint8_t> blob);

// Linear for every format of a plane without IN_FORMATS.
std::vector<FormatModifier> linear_formats(std::span<const uint32_t> fourccs);

// Vertical refresh in millihertz from a mode's timing, as the kernel computes it (interlace
// doubles it, double scan and vscan divide it); 0 for a timing without totals.
uint32_t refresh_mhz(uint32_t clock_khz, uint32_t htotal, uint32_t vtotal, uint32_t vscan, bool interlace,
                     bool double_scan);

// Bits per pixel of a dumb buffer holding `fourcc` (the single-plane RGB formats we scan out);
// 0 for a format a dumb buffer cannot hold.
uint32_t dumb_bpp(uint32_t fourcc);

}  // namespace vgd::hostdisplay::kms
