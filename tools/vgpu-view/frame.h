// One look at a vGPU's screen through libvgd-client: query its three planes, map their buffers,
// and (on demand) compose them into a picture with the fb layer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "client/client.h"
#include "fb/image.h"
#include "hw/display.h"
#include "util/expected.h"

namespace vgd::view {

struct PlaneGrab {
  proto::GfxPlaneInfo info{};
  std::shared_ptr<const client::MappedBuffer> buffer;  // null until mapped, or when it failed
};

struct Frame {
  // Indexed by hw::Plane (primary, sprite, cursor); nullopt: the plane is off or unusable.
  std::optional<PlaneGrab> planes[3];
  std::string problems;  // per-plane refusals (an invalid guest plane), for the user to read
  const std::optional<PlaneGrab>& operator[](hw::Plane p) const { return planes[static_cast<int>(p)]; }
};

// Queries every plane. A refused query (Invalid, Fault: the guest's fault) leaves the plane out
// and is noted in `problems`; a broken connection is an error.
Expected<Frame, client::Error> query_planes(client::VgpuSession& vgpu);
// Maps the buffers of the planes that are on (through the session's cache); same error rules.
Expected<bool, client::Error> map_buffers(client::VgpuSession& vgpu, Frame& frame);
// Lets go of the frame's buffers (the queries stay): on a vGPU with tearing control this returns
// them to the daemon at once, so call it as soon as the frame is composed.
void drop_buffers(Frame& frame);
// The picture the pipe shows: primary, sprite and cursor composed; an error when the primary
// is off or cannot be rendered.
Expected<fb::Image, std::string> compose_frame(const Frame& frame);

}  // namespace vgd::view
