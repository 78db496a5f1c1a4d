// KmsDisplay's enumeration (docs/direct-flip.md, The KMS backend): connectors, CRTCs and planes
// the fd may use (on a lease fd the kernel lists only the leased ones), each object's property
// ids cached for the request builder, and the device caps.
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "hostdisplay/kms_device.h"
#include "hostdisplay/kms_display.h"
#include "hostdisplay/kms_parse.h"

namespace vgd::hostdisplay {

namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <class T, void (*Free)(T*)>
using DrmPtr = std::unique_ptr<T, Deleter<T, Free>>;

// The "type" values, names and blobs of one object's properties; their ids go to the table.
struct Props {
  std::map<std::string, uint64_t, std::less<>> values;
  std::optional<uint64_t> get(std::string_view name) const {
    const auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional(it->second);
  }
};

Props read_props(int fd, uint32_t object_id, uint32_t object_type, kms::PropertyTable& table) {
  Props out;
  table.forget(object_id);
  DrmPtr<drmModeObjectProperties, drmModeFreeObjectProperties> props(drmModeObjectGetProperties(fd, object_id, object_type));
  if (!props) return out;
  for (uint32_t i = 0; i < props->count_props; ++i) {
    DrmPtr<drmModePropertyRes, drmModeFreeProperty> prop(drmModeGetProperty(fd, props->props[i]));
    if (!prop) continue;
    table.set(object_id, prop->name, prop->prop_id);
    out.values[prop->name] = props->prop_values[i];
  }
  return out;
}

Mode mode_of(const drmModeModeInfo& m) {
  Mode out;
  out.width = m.hdisplay;
  out.height = m.vdisplay;
  out.refresh_mhz = kms::refresh_mhz(m.clock, m.htotal, m.vtotal, m.vscan, m.flags & DRM_MODE_FLAG_INTERLACE,
                                     m.flags & DRM_MODE_FLAG_DBLSCAN);
  out.name = std::string(m.name, strnlen(m.name, sizeof m.name));
  out.preferred = (m.type & DRM_MODE_TYPE_PREFERRED) != 0;
  const auto* bytes = reinterpret_cast<const uint8_t*>(&m);
  out.blob.assign(bytes, bytes + sizeof m);
  return out;
}

std::vector<FormatModifier> plane_formats(int fd, const drmModePlane& plane, const Props& props) {
  if (const auto blob_id = props.get("IN_FORMATS"); blob_id && *blob_id) {
    DrmPtr<drmModePropertyBlobRes, drmModeFreePropertyBlob> blob(drmModeGetPropertyBlob(fd, static_cast<uint32_t>(*blob_id)));
    if (blob) {
      auto parsed = kms::parse_in_formats({static_cast<const uint8_t*>(blob->data), blob->length});
      if (parsed) return std::move(*parsed);
      spdlog::warn("kms: plane {}: {}; using its format list with linear", plane.plane_id, parsed.error());
    }
  }
  return kms::linear_formats({plane.formats, plane.count_formats});
}

uint64_t cap(int fd, uint64_t which, uint64_t fallback) {
  uint64_t v = 0;
  return drmGetCap(fd, which, &v) == 0 ? v : fallback;
}

// What a user of the display would notice changed: outputs, their modes and routing, CRTCs.
bool same(const Resources& a, const Resources& b) {
  const auto output_key = [](const OutputInfo& o) {
    std::string k = fmt::format("{}:{}:{}:{};", o.connector_id, o.connected, o.crtc_id, o.possible_crtcs);
    for (const Mode& m : o.modes) k += m.name + ",";
    return k;
  };
  if (a.outputs.size() != b.outputs.size() || a.crtcs.size() != b.crtcs.size() || a.planes.size() != b.planes.size())
    return false;
  for (size_t i = 0; i < a.outputs.size(); ++i)
    if (output_key(a.outputs[i]) != output_key(b.outputs[i])) return false;
  for (size_t i = 0; i < a.crtcs.size(); ++i) {
    const CrtcInfo &x = a.crtcs[i], &y = b.crtcs[i];
    if (x.id != y.id || x.active != y.active || x.mode.has_value() != y.mode.has_value() ||
        (x.mode && x.mode->blob != y.mode->blob))
      return false;
  }
  return true;
}

}  // namespace

Expected<bool, std::string> KmsDisplay::enumerate() {
  const int fd = dev_->fd.get();
  DrmPtr<drmModeRes, drmModeFreeResources> r(drmModeGetResources(fd));
  if (!r) return Unexpected(fmt::format("{}: drmModeGetResources: {}", dev_->name, std::strerror(errno)));
  Resources res;
  props_.clear();

  for (int i = 0; i < r->count_crtcs; ++i) {
    CrtcInfo c;
    c.id = r->crtcs[i];
    c.index = static_cast<uint32_t>(i);
    DrmPtr<drmModeCrtc, drmModeFreeCrtc> crtc(drmModeGetCrtc(fd, c.id));
    if (crtc && crtc->mode_valid) c.mode = mode_of(crtc->mode);
    const Props p = read_props(fd, c.id, DRM_MODE_OBJECT_CRTC, props_);
    c.active = p.get("ACTIVE").value_or(c.mode.has_value()) != 0;
    res.crtcs.push_back(std::move(c));
  }

  for (int i = 0; i < r->count_connectors; ++i) {
    DrmPtr<drmModeConnector, drmModeFreeConnector> conn(drmModeGetConnector(fd, r->connectors[i]));
    if (!conn) continue;
    OutputInfo o;
    o.connector_id = conn->connector_id;
    o.name = kms::connector_name(conn->connector_type, conn->connector_type_id);
    o.connected = conn->connection == DRM_MODE_CONNECTED;
    for (int m = 0; m < conn->count_modes; ++m) o.modes.push_back(mode_of(conn->modes[m]));
    for (int e = 0; e < conn->count_encoders; ++e) {
      DrmPtr<drmModeEncoder, drmModeFreeEncoder> enc(drmModeGetEncoder(fd, conn->encoders[e]));
      if (enc) o.possible_crtcs |= enc->possible_crtcs;
    }
    const Props p = read_props(fd, o.connector_id, DRM_MODE_OBJECT_CONNECTOR, props_);
    o.crtc_id = static_cast<uint32_t>(p.get("CRTC_ID").value_or(0));
    res.outputs.push_back(std::move(o));
  }

  DrmPtr<drmModePlaneRes, drmModeFreePlaneResources> planes(drmModeGetPlaneResources(fd));
  if (!planes) return Unexpected(fmt::format("{}: drmModeGetPlaneResources: {}", dev_->name, std::strerror(errno)));
  for (uint32_t i = 0; i < planes->count_planes; ++i) {
    DrmPtr<drmModePlane, drmModeFreePlane> plane(drmModeGetPlane(fd, planes->planes[i]));
    if (!plane) continue;
    const Props p = read_props(fd, plane->plane_id, DRM_MODE_OBJECT_PLANE, props_);
    const auto type = kms::plane_type(p.get("type").value_or(~0ull));
    if (!type) {
      spdlog::warn("kms: {}: plane {} has no known type; not used", dev_->name, plane->plane_id);
      continue;
    }
    PlaneInfo info;
    info.id = plane->plane_id;
    info.type = *type;
    info.possible_crtcs = plane->possible_crtcs;
    info.formats = plane_formats(fd, *plane, p);
    // Without zpos the stacking is by type: primary below overlays below the cursor.
    const uint64_t by_type = *type == PlaneType::Primary ? 0 : *type == PlaneType::Overlay ? 1 : 2;
    info.zpos = static_cast<uint32_t>(p.get("zpos").value_or(by_type));
    res.planes.push_back(std::move(info));
  }

  res.cursor_width = static_cast<uint32_t>(cap(fd, DRM_CAP_CURSOR_WIDTH, 64));
  res.cursor_height = static_cast<uint32_t>(cap(fd, DRM_CAP_CURSOR_HEIGHT, 64));
  // Atomic commits may flip asynchronously only where the kernel says so for atomic
  // (DRM_CAP_ATOMIC_ASYNC_PAGE_FLIP, Linux 6.8); DRM_CAP_ASYNC_PAGE_FLIP alone covers the legacy
  // page-flip ioctl, and a kernel without the atomic cap refuses atomic async flips.
  constexpr uint64_t kCapAtomicAsyncPageFlip = 0x15;
  res.async_page_flip = cap(fd, kCapAtomicAsyncPageFlip, 0) != 0;

  const bool changed = !same(res, res_);
  res_ = std::move(res);
  return changed;
}

Expected<bool, std::string> KmsDisplay::refresh() { return enumerate(); }

}  // namespace vgd::hostdisplay
