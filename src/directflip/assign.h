// Which host objects a guest pipe gets when it is put on a host output (docs/direct-flip.md,
// Assignment): chosen once, when the pipe is assigned, so a guest flip only looks its pipe up
// (the RFC scanned every DRM plane on every flip). Pure: resources in, choice or reason out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hostdisplay/host_display.h"
#include "util/expected.h"

namespace vgd::directflip {

struct OutputPlanes {
  uint32_t connector_id = 0;
  uint32_t crtc_id = 0;
  uint32_t primary = 0;
  uint32_t overlay = 0;  // 0: the CRTC has none free; the sprite is composed into the primary
  uint32_t cursor = 0;   // 0: none; the cursor is composed into the primary
  hostdisplay::Mode mode;
  // The CRTC is off: the daemon lights it with `mode` (its one modeset, at assignment, never
  // on a guest's behalf).
  bool needs_bringup = false;
};

// `taken`: planes and CRTCs other assignments on the same display already use.
Expected<OutputPlanes, std::string> choose_planes(const hostdisplay::Resources& r, std::string_view output,
                                                  const std::vector<uint32_t>& taken = {});

// Lights a dark output with `planes.mode` (one commit with ALLOW_MODESET) for someone else to
// show things on: what vgpud does before it leases a dark output (docs/direct-flip.md, Leases).
// The primary is off, or black on a driver that wants a primary on a lit CRTC: then the black
// buffer is returned, to keep until what goes on screen next replaces it.
Expected<hostdisplay::BufferRef, std::string> light_output(hostdisplay::HostDisplay& display, const OutputPlanes& planes);

}  // namespace vgd::directflip
