#include "viewers/frame_grab.h"

#include <fmt/format.h>

#include "fb/compose.h"
#include "fb/convert.h"
#include "fb/view.h"
#include "hw/formats.h"

namespace vgd::viewers {
namespace {

uint32_t abi_type(hw::Plane p) {
  switch (p) {
    case hw::Plane::Primary: return proto::kPlanePrimary;
    case hw::Plane::Sprite: return proto::kPlaneOverlay;
    case hw::Plane::Cursor: return proto::kPlaneCursor;
  }
  return proto::kPlanePrimary;
}

const char* plane_name(hw::Plane p) {
  return p == hw::Plane::Primary ? "primary" : p == hw::Plane::Sprite ? "sprite" : "cursor";
}

// Only a broken connection ends the session: anything else (the guest's invalid plane, a
// buffer that could not be mapped) leaves that plane out of this frame.
bool fatal(const client::Error& e) { return e.code == proto::Status::Protocol; }

void note(Frame& f, hw::Plane p, const client::Error& e) {
  f.problems += fmt::format("{}{}: {}", f.problems.empty() ? "" : "; ", plane_name(p), e.message);
}

std::optional<hw::Tiling> tiling_of(uint64_t modifier) {
  switch (modifier) {
    case hw::drm::kModLinear: return hw::Tiling::Linear;
    case hw::drm::kModXTiled: return hw::Tiling::X;
    case hw::drm::kModYTiled: return hw::Tiling::Y;
    case hw::drm::kModYfTiled: return hw::Tiling::Yf;
    default: return std::nullopt;
  }
}

// What render_plane needs, from the query and the buffer. The VFIO record carries no window
// offset (PLANE_OFFSET): the buffer starts at the surface's top-left, as upstream exports it.
Expected<fb::Image, std::string> render(hw::Plane which, const PlaneGrab& g) {
  const client::MappedBuffer& b = *g.buffer;
  const auto tiling = tiling_of(b.modifier());
  if (!tiling) return Unexpected(fmt::format("{}: unknown modifier {:#x}", plane_name(which), b.modifier()));
  decode::PlaneInfo p;
  p.plane = which;
  p.fourcc = b.fourcc();
  p.modifier = b.modifier();
  p.tiling = *tiling;
  p.cpp = fb::format_cpp(b.fourcc());
  p.width = g.info.width;
  p.height = g.info.height;
  p.stride = b.stride();
  p.size = b.size();
  p.x_pos = proto::signed_pos(g.info.x_pos);
  p.y_pos = proto::signed_pos(g.info.y_pos);
  auto img = fb::render_plane(p, fb::PlaneView::borrow(b.bytes()));
  if (!img) return Unexpected(fmt::format("{}: {}", plane_name(which), img.error()));
  return img;
}

}  // namespace

Expected<Frame, client::Error> query_planes(client::VgpuSession& vgpu, std::initializer_list<hw::Plane> which) {
  Frame f;
  for (hw::Plane p : which) {
    auto q = vgpu.query(abi_type(p));
    if (!q) {
      if (fatal(q.error())) return Unexpected(q.error());
      note(f, p, q.error());
      continue;
    }
    if (!client::no_plane(*q)) f.planes[static_cast<int>(p)] = PlaneGrab{*q, nullptr};
  }
  return f;
}

Expected<bool, client::Error> map_buffers(client::VgpuSession& vgpu, Frame& frame) {
  for (hw::Plane p : kAllPlanes) {
    auto& slot = frame.planes[static_cast<int>(p)];
    if (!slot) continue;
    auto b = vgpu.buffer(slot->info);
    if (!b) {
      if (fatal(b.error())) return Unexpected(b.error());
      note(frame, p, b.error());
      slot.reset();
      continue;
    }
    slot->buffer = *b;
  }
  return true;
}

void drop_buffers(Frame& frame) {
  for (auto& slot : frame.planes)
    if (slot) slot->buffer.reset();
}

namespace {

Expected<fb::Image, std::string> compose(const Frame& frame, bool with_cursor) {
  const auto& primary = frame[hw::Plane::Primary];
  if (!primary || !primary->buffer) return Unexpected(std::string("the primary plane is off"));
  auto base = render(hw::Plane::Primary, *primary);
  if (!base) return Unexpected(base.error());
  std::optional<fb::Image> layer[3];
  for (hw::Plane p : {hw::Plane::Sprite, hw::Plane::Cursor}) {
    const auto& g = frame[p];
    if (!g || !g->buffer || (p == hw::Plane::Cursor && !with_cursor)) continue;
    auto img = render(p, *g);
    if (!img) return Unexpected(img.error());
    layer[static_cast<int>(p)] = std::move(*img);
  }
  const auto& s = frame[hw::Plane::Sprite];
  const auto& c = frame[hw::Plane::Cursor];
  const auto& simg = layer[static_cast<int>(hw::Plane::Sprite)];
  const auto& cimg = layer[static_cast<int>(hw::Plane::Cursor)];
  return fb::compose(*base, simg ? &*simg : nullptr, s ? proto::signed_pos(s->info.x_pos) : 0,
                     s ? proto::signed_pos(s->info.y_pos) : 0, cimg ? &*cimg : nullptr,
                     c ? proto::signed_pos(c->info.x_pos) : 0, c ? proto::signed_pos(c->info.y_pos) : 0);
}

}  // namespace

Expected<fb::Image, std::string> compose_frame(const Frame& frame) { return compose(frame, true); }
Expected<fb::Image, std::string> compose_screen(const Frame& frame) { return compose(frame, false); }

Expected<std::optional<CursorImage>, std::string> render_cursor(const Frame& frame) {
  const auto& c = frame[hw::Plane::Cursor];
  if (!c || !c->buffer) return std::optional<CursorImage>{};
  auto img = render(hw::Plane::Cursor, *c);
  if (!img) return Unexpected(img.error());
  CursorImage out;
  out.image = std::move(*img);
  out.x = proto::signed_pos(c->info.x_pos);
  out.y = proto::signed_pos(c->info.y_pos);
  // kHotUnknown (0xFFFFFFFF): the guest never said (VFIO's "unknown"); a hotspot outside the image is no
  // better, so both point at the corner.
  const bool known = c->info.x_hot != proto::kHotUnknown && c->info.y_hot != proto::kHotUnknown &&
                     c->info.x_hot < out.image.width && c->info.y_hot < out.image.height;
  out.hot_x = known ? c->info.x_hot : 0;
  out.hot_y = known ? c->info.y_hot : 0;
  return std::optional<CursorImage>(std::move(out));
}

}  // namespace vgd::viewers
