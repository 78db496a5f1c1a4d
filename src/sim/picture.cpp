#include "sim/picture.h"

#include <fmt/format.h>

#include "decode/decoder.h"
#include "fb/compose.h"
#include "fb/view.h"

namespace vgd {
namespace {

// Decodes and renders one plane; nothing (and no error) when the plane is simply off.
Expected<std::optional<std::pair<decode::PlaneInfo, fb::Image>>, std::string> plane_image(
    const Vgpu& v, const decode::PipeSnapshot& s, hw::Plane plane) {
  auto info = decode::decode_plane(s, plane, v.ggtt());
  if (!info) {
    if (info.error().kind == decode::DecodeError::Kind::NoPlane)
      return std::optional<std::pair<decode::PlaneInfo, fb::Image>>{};
    return Unexpected(fmt::format("plane {}: {}", static_cast<int>(plane), info.error().reason));
  }
  auto view = fb::PlaneView::map(v.ram_ref(), *info);
  if (!view) return Unexpected(view.error());
  auto img = fb::render_plane(*info, *view);
  if (!img) return Unexpected(img.error());
  return std::optional(std::pair(std::move(*info), std::move(*img)));
}

}  // namespace

Expected<Picture, std::string> compose_display(const Vgpu& v) {
  const auto pipe = decode::first_active_pipe(v.vregs());
  if (!pipe) return Unexpected(std::string("display off: no active pipe"));
  const decode::PipeSnapshot s = decode::snapshot(v.vregs(), *pipe);
  auto primary = plane_image(v, s, hw::Plane::Primary);
  if (!primary) return Unexpected(primary.error());
  if (!*primary) return Unexpected(std::string("display on but its primary plane is off"));
  auto sprite = plane_image(v, s, hw::Plane::Sprite);
  if (!sprite) return Unexpected(sprite.error());
  auto cursor = plane_image(v, s, hw::Plane::Cursor);
  if (!cursor) return Unexpected(cursor.error());

  Picture pic;
  pic.pipe = *pipe;
  pic.sprite = sprite->has_value();
  pic.cursor = cursor->has_value();
  const auto& spr = *sprite;
  const auto& cur = *cursor;
  pic.image = fb::compose((*primary)->second, spr ? &spr->second : nullptr, spr ? spr->first.x_pos : 0,
                          spr ? spr->first.y_pos : 0, cur ? &cur->second : nullptr, cur ? cur->first.x_pos : 0,
                          cur ? cur->first.y_pos : 0);
  return pic;
}

}  // namespace vgd
