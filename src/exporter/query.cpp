#include "exporter/query.h"

#include <fmt/format.h>

#include <limits>

namespace vgd::exporter {

std::string_view errc_name(Errc c) {
  switch (c) {
    case Errc::InvalidArgument: return "invalid argument";
    case Errc::NotSupported: return "not supported";
    case Errc::Fault: return "fault";
    case Errc::NoSuchBuffer: return "no such buffer";
    case Errc::Io: return "I/O error";
    case Errc::TooMany: return "too many references";
  }
  return "unknown";
}

namespace {

Unexpected<ExportError> refuse(Errc c, std::string msg) { return Unexpected(ExportError{c, std::move(msg)}); }

const char* plane_name(hw::Plane p) {
  switch (p) {
    case hw::Plane::Primary: return "primary";
    case hw::Plane::Sprite: return "overlay";
    case hw::Plane::Cursor: return "cursor";
  }
  return "?";
}

}  // namespace

Expected<QueryTarget, ExportError> classify_query(const GfxPlaneInfo& req) {
  if (req.argsz < kMinArgsz)
    return refuse(Errc::InvalidArgument, fmt::format("argsz {} is below the {} bytes the query needs", req.argsz,
                                                     kMinArgsz));
  if (req.flags == (kFlagProbe | kFlagDmabuf)) return QueryTarget{.probe = true};
  if (req.flags & ~kKnownFlags)
    return refuse(Errc::InvalidArgument, fmt::format("unknown flag bits 0x{:x}", req.flags & ~kKnownFlags));
  if (req.flags & kFlagRegion)
    return refuse(Errc::NotSupported, "REGION mode is not supported; probe with PROBE|DMABUF and query with DMABUF");
  if (req.flags != kFlagDmabuf)
    return refuse(Errc::InvalidArgument,
                  fmt::format("flags 0x{:x}: a query sets exactly DMABUF, a probe PROBE|DMABUF", req.flags));
  switch (req.drm_plane_type) {
    case kPlanePrimary: return QueryTarget{.probe = false, .plane = hw::Plane::Primary};
    case kPlaneOverlay: return QueryTarget{.probe = false, .plane = hw::Plane::Sprite};
    case kPlaneCursor: return QueryTarget{.probe = false, .plane = hw::Plane::Cursor};
    default:
      return refuse(Errc::InvalidArgument,
                    fmt::format("plane type {} is not OVERLAY (0), PRIMARY (1) or CURSOR (2)", req.drm_plane_type));
  }
}

Expected<GfxPlaneInfo, ExportError> answer_query(const GfxPlaneInfo& req, const DecodeResult& decoded) {
  auto target = classify_query(req);
  if (!target) return Unexpected(target.error());
  if (target->probe) return req;

  // Inputs echoed; every output written below, so nothing the caller left in them leaks back
  // (the kernel copies an untouched struct back for a disabled plane; we zero it like mbochs).
  GfxPlaneInfo r{};
  r.argsz = req.argsz;
  r.flags = req.flags;
  r.drm_plane_type = req.drm_plane_type;
  if (!decoded) {
    const decode::DecodeError& e = decoded.error();
    switch (e.kind) {
      case decode::DecodeError::Kind::NoPlane: return r;
      case decode::DecodeError::Kind::Invalid: return refuse(Errc::InvalidArgument, e.reason);
      case decode::DecodeError::Kind::Fault: return refuse(Errc::Fault, e.reason);
    }
    return refuse(Errc::InvalidArgument, e.reason);
  }
  const decode::PlaneInfo& p = *decoded;
  if (p.plane != target->plane)  // a caller bug, not the guest's: never answer for another plane
    return refuse(Errc::InvalidArgument, fmt::format("asked for the {} plane, decoded the {} plane",
                                                     plane_name(target->plane), plane_name(p.plane)));
  // The decoder bounds the size by the vGPU's slice (<= 2 GiB today); the ABI field is 32 bits.
  if (p.size > std::numeric_limits<uint32_t>::max())
    return refuse(Errc::InvalidArgument, fmt::format("plane of {} bytes does not fit the 32-bit size field", p.size));
  r.drm_format = p.fourcc;
  r.drm_format_mod = p.modifier;
  r.width = p.width;
  r.height = p.height;
  r.stride = p.stride;
  r.size = static_cast<uint32_t>(p.size);
  r.x_pos = pos_bits(p.x_pos);
  r.y_pos = pos_bits(p.y_pos);
  r.x_hot = p.x_hot;
  r.y_hot = p.y_hot;
  return r;
}

}  // namespace vgd::exporter
