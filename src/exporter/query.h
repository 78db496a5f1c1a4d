// The plane query's argument rules and reply, as pure functions (docs/protocol.md §3.4): what the
// kernel's VFIO_DEVICE_QUERY_GFX_PLANE does before and after its dma-buf cache, so they can be
// tested without one. Exporter::query() adds the buffer ids.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "decode/plane.h"
#include "exporter/plane_abi.h"
#include "hw/display.h"
#include "util/expected.h"

namespace vgd::exporter {

// Every refusal is a code (what a protocol maps to an errno) plus a message for a human.
enum class Errc : uint8_t {
  InvalidArgument,  // bad argsz, flags or plane type, or the guest's plane is invalid (EINVAL)
  NotSupported,     // REGION mode (the kernel says EINVAL; we say why)
  Fault,            // the guest's plane points outside its memory (EFAULT)
  NoSuchBuffer,     // unknown id, or no export outstanding to release
  Io,               // the host could not open a descriptor
  TooMany,          // the consumer holds the most references it may (docs/protocol.md §4)
};
std::string_view errc_name(Errc c);

struct ExportError {
  Errc code;
  std::string message;
};

using DecodeResult = Expected<decode::PlaneInfo, decode::DecodeError>;

// What a valid request asks for: support (PROBE) or one plane's description.
struct QueryTarget {
  bool probe = false;
  hw::Plane plane = hw::Plane::Primary;  // when !probe
};

// The argument checks, in the kernel's order: argsz >= 60; PROBE|DMABUF is a probe (plane type
// unchecked); anything but exactly DMABUF is refused; plane type OVERLAY/PRIMARY/CURSOR.
Expected<QueryTarget, ExportError> classify_query(const GfxPlaneInfo& req);

// The reply without a buffer id (dmabuf_id 0): a probe echoes the request; a disabled plane
// (NoPlane) is success with every output zeroed; other decode errors are refused with the
// decoder's reason. `decoded` must describe the plane the request names (ignored for a probe).
Expected<GfxPlaneInfo, ExportError> answer_query(const GfxPlaneInfo& req, const DecodeResult& decoded);

// The reply says "no plane" (how QEMU reads it: zero format or size).
constexpr bool no_plane(const GfxPlaneInfo& r) { return r.drm_format == 0 || r.size == 0; }

}  // namespace vgd::exporter
