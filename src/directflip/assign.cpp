#include "directflip/assign.h"

#include <fmt/format.h>

#include <algorithm>

#include "hw/formats.h"

namespace vgd::directflip {

using hostdisplay::PlaneType;

namespace {

bool taken_by_other(const std::vector<uint32_t>& taken, uint32_t id) {
  return std::find(taken.begin(), taken.end(), id) != taken.end();
}

// The free plane of `type` that can scan out on CRTC `index`, lowest id first (KMS lists
// planes in id order, and drivers give the CRTC's own planes first).
uint32_t free_plane(const hostdisplay::Resources& r, PlaneType type, uint32_t index, const std::vector<uint32_t>& taken) {
  for (const auto& p : r.planes)
    if (p.type == type && (p.possible_crtcs >> index & 1) && !taken_by_other(taken, p.id)) return p.id;
  return 0;
}

}  // namespace

Expected<OutputPlanes, std::string> choose_planes(const hostdisplay::Resources& r, std::string_view output,
                                                  const std::vector<uint32_t>& taken) {
  const auto* o = r.output(output);
  if (!o) return Unexpected(fmt::format("no output named {}", output));
  // `connected` is not asked: virtio-gpu reports a head QEMU's UI has not sized as disconnected
  // yet scans out what is lit there; the bring-up's commit is the judge (docs/direct-flip.md).
  OutputPlanes out;
  out.connector_id = o->connector_id;
  const hostdisplay::CrtcInfo* crtc = o->crtc_id ? r.crtc(o->crtc_id) : nullptr;
  if (!crtc) {
    // An output that is off gets a CRTC it may use that drives no other output.
    for (const auto& c : r.crtcs) {
      const bool drives_other = std::any_of(r.outputs.begin(), r.outputs.end(), [&](const auto& x) { return x.crtc_id == c.id; });
      if ((o->possible_crtcs >> c.index & 1) && !drives_other && !taken_by_other(taken, c.id)) {
        crtc = &c;
        break;
      }
    }
  }
  if (!crtc) return Unexpected(fmt::format("output {} has no free CRTC", output));
  if (taken_by_other(taken, crtc->id)) return Unexpected(fmt::format("output {} is already assigned", output));
  out.crtc_id = crtc->id;
  out.primary = free_plane(r, PlaneType::Primary, crtc->index, taken);
  if (!out.primary) return Unexpected(fmt::format("output {}: its CRTC has no primary plane", output));
  out.overlay = free_plane(r, PlaneType::Overlay, crtc->index, taken);
  out.cursor = free_plane(r, PlaneType::Cursor, crtc->index, taken);
  if (crtc->active && crtc->mode) {
    out.mode = *crtc->mode;
  } else {
    // An output listing no mode borrows the first one that lists some (docs/direct-flip.md,
    // "Which mode").
    const auto lists = std::find_if(r.outputs.begin(), r.outputs.end(), [](const auto& x) { return !x.modes.empty(); });
    const auto& modes = !o->modes.empty() ? o->modes : lists != r.outputs.end() ? lists->modes : o->modes;
    if (modes.empty()) return Unexpected(fmt::format("output {} lists no mode, nor does any other", output));
    const auto preferred = std::find_if(modes.begin(), modes.end(), [](const auto& m) { return m.preferred; });
    out.mode = preferred != modes.end() ? *preferred : modes.front();
    out.needs_bringup = true;
  }
  return out;
}

Expected<hostdisplay::BufferRef, std::string> light_output(hostdisplay::HostDisplay& display, const OutputPlanes& planes) {
  hostdisplay::State s;
  s.crtcs.push_back({planes.crtc_id, true, planes.mode, planes.connector_id});
  s.planes.push_back({planes.primary, 0, nullptr});
  auto r = display.commit(s, hostdisplay::kAllowModeset);
  if (r) return hostdisplay::BufferRef();
  auto black = display.create_buffer(planes.mode.width, planes.mode.height, hw::drm::kXRGB8888);
  if (!black) return Unexpected(fmt::format("lighting the output with {}: {} (and no black buffer: {})", planes.mode.name,
                                            r.error().what, black.error()));
  std::fill((*black)->pixels().begin(), (*black)->pixels().end(), std::byte{0});
  const uint32_t w = planes.mode.width, h = planes.mode.height;
  s.planes[0] = {planes.primary, planes.crtc_id, *black, 0, 0, hostdisplay::fixed16(w), hostdisplay::fixed16(h), 0, 0, w, h};
  if (r = display.commit(s, hostdisplay::kAllowModeset); !r)
    return Unexpected(fmt::format("lighting the output with {}: {}", planes.mode.name, r.error().what));
  return *black;
}

}  // namespace vgd::directflip
