#include <algorithm>

#include "hostdisplay/host_display.h"

namespace vgd::hostdisplay {

bool PlaneInfo::supports(FormatModifier f) const {
  return std::find(formats.begin(), formats.end(), f) != formats.end();
}

const OutputInfo* Resources::output(std::string_view name) const {
  const auto it = std::find_if(outputs.begin(), outputs.end(), [&](const OutputInfo& o) { return o.name == name; });
  return it == outputs.end() ? nullptr : &*it;
}

const CrtcInfo* Resources::crtc(uint32_t id) const {
  const auto it = std::find_if(crtcs.begin(), crtcs.end(), [&](const CrtcInfo& c) { return c.id == id; });
  return it == crtcs.end() ? nullptr : &*it;
}

const PlaneInfo* Resources::plane(uint32_t id) const {
  const auto it = std::find_if(planes.begin(), planes.end(), [&](const PlaneInfo& p) { return p.id == id; });
  return it == planes.end() ? nullptr : &*it;
}

}  // namespace vgd::hostdisplay
