#include "hostdisplay/kms_request.h"

#include <fmt/format.h>

namespace vgd::hostdisplay::kms {

uint32_t PropertyTable::find(uint32_t object_id, std::string_view name) const {
  const auto obj = ids_.find(object_id);
  if (obj == ids_.end()) return 0;
  const auto prop = obj->second.find(name);
  return prop == obj->second.end() ? 0 : prop->second;
}

void RequestBuilder::add(uint32_t object_id, std::string_view property, uint64_t value) {
  if (failed()) return;
  const uint32_t id = props_.find(object_id, property);
  if (id == 0) {
    fail(props_.has_object(object_id) ? fmt::format("object {} has no property {}", object_id, property)
                                      : fmt::format("object {} is not one of this display's", object_id));
    return;
  }
  sets_.push_back({object_id, id, value});
}

void RequestBuilder::fail(std::string why) {
  if (!failed()) error_ = std::move(why);
}

Expected<std::vector<PropertySet>, std::string> build_request(const State& state, const PropertyTable& props,
                                                              const std::map<uint32_t, uint32_t>& mode_blobs) {
  RequestBuilder req(props);
  for (const CrtcState& c : state.crtcs) {
    if (c.mode) {
      const auto blob = mode_blobs.find(c.crtc_id);
      if (blob == mode_blobs.end()) req.fail(fmt::format("CRTC {}: no mode blob for mode {}", c.crtc_id, c.mode->name));
      else req.add(c.crtc_id, "MODE_ID", blob->second);
    }
    if (c.active) req.add(c.crtc_id, "ACTIVE", *c.active ? 1 : 0);
    if (c.connector_id) req.add(*c.connector_id, "CRTC_ID", c.crtc_id);
  }
  for (const PlaneState& p : state.planes) {
    if (!p.buffer) {
      if (p.crtc_id != 0) req.fail(fmt::format("plane {}: a CRTC ({}) but no buffer", p.plane_id, p.crtc_id));
      req.add(p.plane_id, "FB_ID", 0);
      req.add(p.plane_id, "CRTC_ID", 0);
      continue;
    }
    if (p.crtc_id == 0) req.fail(fmt::format("plane {}: a buffer but no CRTC", p.plane_id));
    req.add(p.plane_id, "FB_ID", p.buffer->fb_id());
    req.add(p.plane_id, "CRTC_ID", p.crtc_id);
    req.add(p.plane_id, "SRC_X", p.src_x);
    req.add(p.plane_id, "SRC_Y", p.src_y);
    req.add(p.plane_id, "SRC_W", p.src_w);
    req.add(p.plane_id, "SRC_H", p.src_h);
    // Signed range properties carry the int64 in the u64 (the kernel's I642U64).
    req.add(p.plane_id, "CRTC_X", static_cast<uint64_t>(int64_t{p.crtc_x}));
    req.add(p.plane_id, "CRTC_Y", static_cast<uint64_t>(int64_t{p.crtc_y}));
    req.add(p.plane_id, "CRTC_W", p.crtc_w);
    req.add(p.plane_id, "CRTC_H", p.crtc_h);
    // Only virtualized drivers' cursor planes have them (signed, like CRTC_X).
    if (p.hotspot && props.find(p.plane_id, "HOTSPOT_X") && props.find(p.plane_id, "HOTSPOT_Y")) {
      req.add(p.plane_id, "HOTSPOT_X", static_cast<uint64_t>(int64_t{p.hotspot->x}));
      req.add(p.plane_id, "HOTSPOT_Y", static_cast<uint64_t>(int64_t{p.hotspot->y}));
    }
  }
  if (req.failed()) return Unexpected(req.error());
  return req.sets();
}

uint32_t drm_commit_flags(uint32_t flags) {
  uint32_t out = 0;
  if (flags & kTestOnly) out |= kDrmTestOnly;
  else if (flags & kPageFlipEvent) out |= kDrmPageFlipEvent;
  if (flags & kNonblock) out |= kDrmNonblock;
  if (flags & kAllowModeset) out |= kDrmAllowModeset;
  if (flags & kAsync) out |= kDrmPageFlipAsync;
  return out;
}

std::string flags_text(uint32_t flags) {
  std::string out;
  const auto add = [&](uint32_t bit, const char* name) {
    if (!(flags & bit)) return;
    if (!out.empty()) out += '|';
    out += name;
  };
  add(kTestOnly, "TEST_ONLY");
  add(kNonblock, "NONBLOCK");
  add(kPageFlipEvent, "PAGE_FLIP_EVENT");
  add(kAllowModeset, "ALLOW_MODESET");
  add(kAsync, "PAGE_FLIP_ASYNC");
  return out.empty() ? "none" : out;
}

}  // namespace vgd::hostdisplay::kms
