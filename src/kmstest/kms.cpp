#include "kmstest/kms.h"

#include <drm_fourcc.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <ctime>

namespace vgd::kmstest {
namespace {

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

template <typename T>
__u64 ptr(T* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// The kernel's connector type names (drm_connector_enum_list), indexed by DRM_MODE_CONNECTOR_*.
const char* connector_type_name(uint32_t type) {
  static const char* const names[] = {"Unknown", "VGA", "DVI-I", "DVI-D", "DVI-A", "Composite", "SVIDEO",
                                      "LVDS", "Component", "DIN", "DP", "HDMI-A", "HDMI-B", "TV", "eDP",
                                      "Virtual", "DSI", "DPI", "Writeback", "SPI", "USB"};
  return type < std::size(names) ? names[type] : "Unknown";
}

// Fills the arrays of a "count, then arrays" ioctl: sizes them from a first call and repeats
// while the counts grow underneath (a hotplug between the calls). `sync` points the struct's
// pointers at the vectors and returns whether every count still fits (through all_fit, which
// evaluates every fit, so that every array is resized in one pass).
template <typename Arg, typename Sync>
void two_call(const Card& card, unsigned long request, Arg& arg, const char* what, Sync sync) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (sync(arg)) {
      card.ioctl(request, &arg, what);
      if (sync(arg)) return;
    }
  }
  throw KmsError(std::string(what) + ": counts keep changing");
}

// Resizes v to the kernel's count and points `field` at it; false when the count grew.
template <typename T, typename Count>
bool fit(std::vector<T>& v, Count& count, __u64& field) {
  const bool fits = count <= v.size();
  if (!fits) v.resize(count);
  count = static_cast<Count>(v.size());
  field = ptr(v.data());
  return fits;
}

// True when every one is: a braced list evaluates each element, in order, unlike &&.
bool all_fit(std::initializer_list<bool> fits) {
  for (bool f : fits)
    if (!f) return false;
  return true;
}

}  // namespace

Card::Card(const std::string& path, bool writeback) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) throw KmsError(errno_text(("open " + path).c_str(), errno));
  drm_set_client_cap universal{DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1};
  ioctl(DRM_IOCTL_SET_CLIENT_CAP, &universal, "SET_CLIENT_CAP UNIVERSAL_PLANES");
  drm_set_client_cap atomic{DRM_CLIENT_CAP_ATOMIC, 1};
  ioctl(DRM_IOCTL_SET_CLIENT_CAP, &atomic, "SET_CLIENT_CAP ATOMIC");
  drm_set_client_cap wb{DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1};
  if (writeback) ioctl(DRM_IOCTL_SET_CLIENT_CAP, &wb, "SET_CLIENT_CAP WRITEBACK_CONNECTORS");
}

Card::~Card() {
  if (fd_ >= 0) ::close(fd_);
}

int Card::try_ioctl(unsigned long request, void* arg) const {
  int r = 0;
  do r = ::ioctl(fd_, request, arg);
  while (r == -1 && (errno == EINTR || errno == EAGAIN));
  return r == 0 ? 0 : errno;
}

void Card::ioctl(unsigned long request, void* arg, const char* what) const {
  if (const int err = try_ioctl(request, arg)) throw KmsError(errno_text(what, err));
}

uint32_t Properties::id(const std::string& name) const {
  const auto it = ids.find(name);
  if (it == ids.end()) throw KmsError("no property " + name);
  return it->second;
}

Properties object_properties(const Card& card, uint32_t object_id, uint32_t object_type) {
  std::vector<uint32_t> ids;
  std::vector<uint64_t> values;
  drm_mode_obj_get_properties arg{};
  arg.obj_id = object_id;
  arg.obj_type = object_type;
  two_call(card, DRM_IOCTL_MODE_OBJ_GETPROPERTIES, arg, "OBJ_GETPROPERTIES", [&](drm_mode_obj_get_properties& a) {
    uint32_t n = a.count_props;
    return all_fit({fit(ids, a.count_props, a.props_ptr), fit(values, n, a.prop_values_ptr)});
  });
  Properties out;
  for (size_t i = 0; i < arg.count_props; ++i) {
    drm_mode_get_property prop{};
    prop.prop_id = ids[i];
    card.ioctl(DRM_IOCTL_MODE_GETPROPERTY, &prop, "GETPROPERTY");
    const std::string name(prop.name, strnlen(prop.name, sizeof prop.name));
    out.ids[name] = ids[i];
    out.values[name] = values[i];
  }
  return out;
}

bool Plane::supports(uint32_t format) const {
  for (uint32_t f : formats)
    if (f == format) return true;
  return false;
}

Pipeline find_pipeline(const Card& card, bool writeback) {
  std::vector<uint32_t> fbs, crtcs, connectors, encoders;
  drm_mode_card_res res{};
  two_call(card, DRM_IOCTL_MODE_GETRESOURCES, res, "GETRESOURCES", [&](drm_mode_card_res& r) {
    return all_fit({fit(fbs, r.count_fbs, r.fb_id_ptr), fit(crtcs, r.count_crtcs, r.crtc_id_ptr),
                    fit(connectors, r.count_connectors, r.connector_id_ptr),
                    fit(encoders, r.count_encoders, r.encoder_id_ptr)});
  });
  crtcs.resize(res.count_crtcs);
  connectors.resize(res.count_connectors);

  Pipeline p;
  uint32_t crtc_mask = 0;
  std::vector<std::pair<uint32_t, Properties>> all;
  for (uint32_t id : connectors) {
    all.emplace_back(id, object_properties(card, id, DRM_MODE_OBJECT_CONNECTOR));
    std::vector<drm_mode_modeinfo> modes;
    std::vector<uint32_t> conn_encoders, prop_ids;
    std::vector<uint64_t> prop_values;
    drm_mode_get_connector c{};
    c.connector_id = id;
    // The first call with no room for modes is what makes the kernel probe the connector.
    two_call(card, DRM_IOCTL_MODE_GETCONNECTOR, c, "GETCONNECTOR", [&](drm_mode_get_connector& a) {
      uint32_t n = a.count_props;
      return all_fit({fit(modes, a.count_modes, a.modes_ptr), fit(conn_encoders, a.count_encoders, a.encoders_ptr),
                      fit(prop_ids, a.count_props, a.props_ptr), fit(prop_values, n, a.prop_values_ptr)});
    });
    uint32_t mask = 0;
    for (size_t i = 0; i < c.count_encoders; ++i) {
      drm_mode_get_encoder e{};
      e.encoder_id = conn_encoders[i];
      card.ioctl(DRM_IOCTL_MODE_GETENCODER, &e, "GETENCODER");
      mask |= e.possible_crtcs;
    }
    if ((c.connector_type == DRM_MODE_CONNECTOR_WRITEBACK) != writeback || p.connector_id) continue;
    if (c.connection != 1 || c.count_modes == 0 || mask == 0) continue;  // DRM_MODE_CONNECTED
    modes.resize(c.count_modes);
    crtc_mask = mask;
    p.connector_id = id;
    p.connector_name = std::string(connector_type_name(c.connector_type)) + "-" + std::to_string(c.connector_type_id);
    p.modes = std::move(modes);
    p.connector_props = all.back().second;
  }
  if (p.connector_id == 0) throw KmsError("no connected connector with modes and a CRTC");
  uint32_t crtc_index = 0;
  while (crtc_index < crtcs.size() && !(crtc_mask & (1u << crtc_index))) ++crtc_index;
  if (crtc_index == crtcs.size()) throw KmsError("the connector's encoders name no existing CRTC");
  p.crtc_id = crtcs[crtc_index];
  for (const auto& [id, props] : all) {
    const auto on = props.values.find("CRTC_ID");
    if (id != p.connector_id && on != props.values.end() && on->second == p.crtc_id)
      p.others_on_crtc.emplace_back(id, props.id("CRTC_ID"));
  }
  p.crtc_props = object_properties(card, p.crtc_id, DRM_MODE_OBJECT_CRTC);

  std::vector<uint32_t> plane_ids;
  drm_mode_get_plane_res pres{};
  two_call(card, DRM_IOCTL_MODE_GETPLANERESOURCES, pres, "GETPLANERESOURCES",
           [&](drm_mode_get_plane_res& a) { return fit(plane_ids, a.count_planes, a.plane_id_ptr); });
  plane_ids.resize(pres.count_planes);
  bool have_primary = false;
  for (uint32_t id : plane_ids) {
    Plane plane;
    drm_mode_get_plane gp{};
    gp.plane_id = id;
    two_call(card, DRM_IOCTL_MODE_GETPLANE, gp, "GETPLANE",
             [&](drm_mode_get_plane& a) { return fit(plane.formats, a.count_format_types, a.format_type_ptr); });
    if (!(gp.possible_crtcs & (1u << crtc_index))) continue;
    plane.formats.resize(gp.count_format_types);
    plane.id = id;
    plane.possible_crtcs = gp.possible_crtcs;
    plane.props = object_properties(card, id, DRM_MODE_OBJECT_PLANE);
    const auto type = plane.props.values.find("type");
    if (type == plane.props.values.end()) throw KmsError("plane " + std::to_string(id) + " has no type property");
    // DRM_PLANE_TYPE_OVERLAY 0, PRIMARY 1, CURSOR 2: the first of each kind for this CRTC.
    if (type->second == 1 && !have_primary) {
      p.primary = std::move(plane);
      have_primary = true;
    } else if (type->second == 0 && !p.overlay) {
      p.overlay = std::move(plane);
    } else if (type->second == 2 && !p.cursor) {
      p.cursor = std::move(plane);
    }
  }
  if (!have_primary) throw KmsError("no primary plane for CRTC " + std::to_string(p.crtc_id));
  return p;
}

DumbBuffer::DumbBuffer(const Card& card, uint32_t width, uint32_t height, uint32_t format)
    : card_(card), width_(width), height_(height) {
  drm_mode_create_dumb create{};
  create.width = width;
  create.height = height;
  create.bpp = 32;
  card.ioctl(DRM_IOCTL_MODE_CREATE_DUMB, &create, "CREATE_DUMB");
  handle_ = create.handle;
  pitch_ = create.pitch;
  size_ = create.size;
  try {
    drm_mode_map_dumb map{};
    map.handle = handle_;
    card.ioctl(DRM_IOCTL_MODE_MAP_DUMB, &map, "MAP_DUMB");
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, card.fd(), static_cast<off_t>(map.offset));
    if (p == MAP_FAILED) throw KmsError(errno_text("mmap dumb buffer", errno));
    pixels_ = static_cast<uint32_t*>(p);
    drm_mode_fb_cmd2 fb{};
    fb.width = width;
    fb.height = height;
    fb.pixel_format = format;
    fb.handles[0] = handle_;
    fb.pitches[0] = pitch_;
    card.ioctl(DRM_IOCTL_MODE_ADDFB2, &fb, "ADDFB2");
    fb_id_ = fb.fb_id;
  } catch (...) {
    release();
    throw;
  }
}

DumbBuffer::~DumbBuffer() { release(); }

void DumbBuffer::release() {
  if (fb_id_) card_.try_ioctl(DRM_IOCTL_MODE_RMFB, &fb_id_);
  if (pixels_) ::munmap(pixels_, size_);
  drm_mode_destroy_dumb d{handle_};
  if (handle_) card_.try_ioctl(DRM_IOCTL_MODE_DESTROY_DUMB, &d);
  fb_id_ = handle_ = 0;
  pixels_ = nullptr;
}

Blob::Blob(const Card& card, const void* data, uint32_t length) : card_(card) {
  drm_mode_create_blob b{};
  b.data = ptr(data);
  b.length = length;
  card.ioctl(DRM_IOCTL_MODE_CREATEPROPBLOB, &b, "CREATEPROPBLOB");
  id_ = b.blob_id;
}

Blob::~Blob() {
  drm_mode_destroy_blob b{id_};
  card_.try_ioctl(DRM_IOCTL_MODE_DESTROYPROPBLOB, &b);
}

void AtomicRequest::set(uint32_t object_id, uint32_t property_id, uint64_t value) {
  size_t i = 0;
  while (i < objects_.size() && objects_[i] != object_id) ++i;
  if (i == objects_.size()) {
    objects_.push_back(object_id);
    props_.emplace_back();
  }
  props_[i].emplace_back(property_id, value);
}

void AtomicRequest::commit(const Card& card, uint32_t flags, uint64_t user_data) const {
  std::vector<uint32_t> counts, ids;
  std::vector<uint64_t> values;
  for (const auto& object : props_) {
    counts.push_back(static_cast<uint32_t>(object.size()));
    for (const auto& [id, value] : object) {
      ids.push_back(id);
      values.push_back(value);
    }
  }
  drm_mode_atomic a{};
  a.flags = flags;
  a.count_objs = static_cast<uint32_t>(objects_.size());
  a.objs_ptr = ptr(objects_.data());
  a.count_props_ptr = ptr(counts.data());
  a.props_ptr = ptr(ids.data());
  a.prop_values_ptr = ptr(values.data());
  a.user_data = user_data;
  card.ioctl(DRM_IOCTL_MODE_ATOMIC, &a, "ATOMIC");
}

FlipEvent wait_flip_event(const Card& card, int timeout_ms) {
  pollfd p{card.fd(), POLLIN, 0};
  const int r = ::poll(&p, 1, timeout_ms);
  if (r < 0) throw KmsError(errno_text("poll", errno));
  if (r == 0) throw KmsError("no flip-done event within " + std::to_string(timeout_ms) + " ms");
  // A buffer of exactly one vblank event: read() returns whole events only, so one at a time.
  drm_event_vblank ev{};
  const ssize_t n = ::read(card.fd(), &ev, sizeof ev);
  const uint64_t now = monotonic_ns();
  if (n < 0) throw KmsError(errno_text("read event", errno));
  if (n < static_cast<ssize_t>(sizeof ev) || ev.base.type != DRM_EVENT_FLIP_COMPLETE)
    throw KmsError("unexpected event of type " + std::to_string(ev.base.type) + " and " + std::to_string(n) + " bytes");
  return FlipEvent{ev.user_data, ev.sequence, ev.tv_sec, ev.tv_usec, ev.crtc_id, now};
}

bool event_pending(const Card& card) {
  pollfd p{card.fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

uint64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_nsec);
}

std::string mode_name(const drm_mode_modeinfo& m) {
  return std::to_string(m.hdisplay) + "x" + std::to_string(m.vdisplay) + "@" + std::to_string(m.vrefresh);
}

}  // namespace vgd::kmstest
