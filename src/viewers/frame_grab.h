// One look at a vGPU's screen through libvgd-client: query its three planes, map their buffers,
// and compose them into a picture with the fb layer — with the cursor (a PNG snapshot), or
// without it and the cursor apart (a remote display that sends the cursor as its own shape).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "client/client.h"
#include "fb/image.h"
#include "hw/display.h"
#include "util/expected.h"

namespace vgd::viewers {

struct PlaneGrab {
  proto::GfxPlaneInfo info{};
  std::shared_ptr<const client::MappedBuffer> buffer;  // null until mapped, or when it failed
};

struct Frame {
  // Indexed by hw::Plane (primary, sprite, cursor); nullopt: the plane is off, unusable or
  // was not asked for.
  std::optional<PlaneGrab> planes[3];
  std::string problems;  // per-plane refusals (an invalid guest plane), for the user to read
  const std::optional<PlaneGrab>& operator[](hw::Plane p) const { return planes[static_cast<int>(p)]; }
};

inline constexpr std::initializer_list<hw::Plane> kAllPlanes = {hw::Plane::Primary, hw::Plane::Sprite,
                                                                hw::Plane::Cursor};

// Queries the planes asked for (all by default). A refused query (Invalid, Fault: the guest's
// fault) leaves the plane out and is noted in `problems`; a broken connection is an error.
Expected<Frame, client::Error> query_planes(client::VgpuSession& vgpu,
                                            std::initializer_list<hw::Plane> which = kAllPlanes);
// Maps the buffers of the planes that are on (through the session's cache); same error rules.
Expected<bool, client::Error> map_buffers(client::VgpuSession& vgpu, Frame& frame);
// Lets go of the frame's buffers (the queries stay): on a vGPU with tearing control this returns
// them to the daemon at once, so call it as soon as the frame is composed.
void drop_buffers(Frame& frame);
// The picture the pipe shows: primary, sprite and cursor composed; an error when the primary
// is off or cannot be rendered.
Expected<fb::Image, std::string> compose_frame(const Frame& frame);
// The same without the cursor plane.
Expected<fb::Image, std::string> compose_screen(const Frame& frame);

// The cursor plane as its own picture. GVT's CURPOS is the image's top-left corner; the
// pointer's tip is that plus the hotspot.
struct CursorImage {
  fb::Image image;                // straight ARGB
  int32_t x = 0, y = 0;           // the image's top-left on the screen (may be negative)
  uint32_t hot_x = 0, hot_y = 0;  // 0,0 when the guest left it unknown (0xFFFFFFFF)
  int32_t pointer_x() const { return x + static_cast<int32_t>(hot_x); }
  int32_t pointer_y() const { return y + static_cast<int32_t>(hot_y); }
};
// nullopt when the cursor plane is off (or was not mapped); an error when it cannot be rendered.
Expected<std::optional<CursorImage>, std::string> render_cursor(const Frame& frame);

}  // namespace vgd::viewers
