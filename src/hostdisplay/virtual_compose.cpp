// What a virtual monitor's CRTC scans out (docs/direct-flip.md, Virtual monitor): each plane's
// source window detiled and converted by the framebuffer layer, stacked over black.
#include <spdlog/spdlog.h>

#include "fb/compose.h"
#include "fb/convert.h"
#include "fb/view.h"
#include "hostdisplay/virtual_formats.h"
#include "hostdisplay/virtual_state.h"

namespace vgd::hostdisplay::vmon {
namespace {

// The plane's source window as the framebuffer layer describes a plane it renders.
decode::PlaneInfo as_decoded(const PlaneState& p) {
  const BufferLayout& l = p.buffer->layout();
  decode::PlaneInfo d;
  d.fourcc = l.format.fourcc;
  d.modifier = l.format.modifier;
  d.tiling = tiling_of(l.format.modifier).value_or(hw::Tiling::Linear);
  d.cpp = fb::format_cpp(l.format.fourcc);
  d.stride = l.pitch[0];
  d.x_offset = p.src_x >> 16;
  d.y_offset = p.src_y >> 16;
  d.width = p.src_w >> 16;
  d.height = p.src_h >> 16;
  return d;
}

}  // namespace

std::shared_ptr<const fb::Image> compose_crtc(const CrtcConfig& cfg, uint64_t* unreadable) {
  if (!cfg.active || !cfg.mode) return nullptr;
  const uint32_t w = cfg.mode->width, h = cfg.mode->height;
  fb::Image screen{w, h, std::vector<uint32_t>(size_t{w} * h, 0xFF000000u)};
  for (const PlaneState& p : cfg.planes) {  // in zpos order
    if (!p.buffer) continue;
    auto img = fb::render_plane(as_decoded(p), fb::PlaneView::borrow(p.buffer->bytes()));
    if (!img) {
      // The check accepted the buffer, so this is the monitor's own fault: leave the plane out.
      spdlog::error("virtual monitor: plane {} (fb {}) not shown: {}", p.plane_id, p.buffer->fb_id(), img.error());
      ++*unreadable;
      continue;
    }
    screen = fb::compose(screen, &*img, p.crtc_x, p.crtc_y, nullptr, 0, 0);
  }
  return std::make_shared<const fb::Image>(std::move(screen));
}

}  // namespace vgd::hostdisplay::vmon
