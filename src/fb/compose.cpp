#include "fb/compose.h"

#include <fmt/format.h>

#include <algorithm>
#include <span>
#include <vector>

#include "fb/convert.h"
#include "fb/detile.h"
#include "util/address.h"

namespace vgd::fb {
namespace {

constexpr uint32_t kOpaqueBlack = 0xFF000000u;

// Blends src over dst with src's top-left corner at (x, y) of dst, clipped to dst.
void blend_onto(Image& dst, const Image& src, int64_t x, int64_t y) {
  const int64_t x0 = std::max<int64_t>(x, 0), x1 = std::min<int64_t>(x + src.width, dst.width);
  const int64_t y0 = std::max<int64_t>(y, 0), y1 = std::min<int64_t>(y + src.height, dst.height);
  if (x0 >= x1 || y0 >= y1) return;  // entirely off-screen (or empty)
  for (int64_t dy = y0; dy < y1; ++dy) {
    uint32_t* d = &dst.at(0, static_cast<uint32_t>(dy));
    const uint32_t* s = &src.at(0, static_cast<uint32_t>(dy - y));
    for (int64_t dx = x0; dx < x1; ++dx) d[dx] = blend_over(d[dx], s[dx - x]);
  }
}

}  // namespace

Expected<Image, std::string> render_plane(const decode::PlaneInfo& plane, const PlaneView& view) {
  const RowConverter convert = row_converter(plane.fourcc, Output::Argb);
  if (!convert) return Unexpected(fmt::format("unsupported pixel format {:#010x}", plane.fourcc));
  if (format_cpp(plane.fourcc) != plane.cpp)
    return Unexpected(fmt::format("plane has {} bytes per pixel, its format {}", plane.cpp, format_cpp(plane.fourcc)));
  // Read whole macropixels (packed YUV): a window starting or ending at an odd pixel still needs
  // the chroma of the pair it belongs to.
  const uint32_t group = pixels_per_group(plane.fourcc);
  const uint32_t lead = plane.x_offset % group;
  const Window win{plane.x_offset - lead, plane.y_offset,
                   static_cast<uint32_t>(align_up(uint64_t{lead} + plane.width, group)), plane.height};
  const TiledSurface surface{view.bytes(), plane.tiling, plane.cpp, plane.stride};
  if (auto err = check_window(surface, win)) return Unexpected(fmt::format("plane window: {}", *err));

  // Linear surfaces convert straight from the guest's memory; tiled ones go through a buffer.
  std::vector<std::byte> linear;
  const std::byte* rows = surface.bytes.data() + uint64_t{win.y} * plane.stride + uint64_t{win.x} * plane.cpp;
  size_t row_stride = plane.stride;
  if (plane.tiling != hw::Tiling::Linear) {
    row_stride = size_t{win.width} * plane.cpp;
    linear.resize(row_stride * win.height);
    detile_into(surface, win, linear.data(), row_stride);
    rows = linear.data();
  }
  Image img{plane.width, plane.height, std::vector<uint32_t>(size_t{plane.width} * plane.height)};
  for (uint32_t r = 0; r < plane.height; ++r) convert(rows + r * row_stride, lead, plane.width, &img.at(0, r));
  return img;
}

uint32_t blend_over(uint32_t dst, uint32_t src) {
  const uint32_t a = src >> 24;
  if (a == 0xFF) return src;
  if (a == 0) return dst;
  // Straight alpha over an opaque destination: c = s·a + d·(1 - a), rounded; stays opaque.
  uint32_t out = kOpaqueBlack;
  for (uint32_t shift = 0; shift < 24; shift += 8) {
    const uint32_t s = src >> shift & 0xFF, d = dst >> shift & 0xFF;
    out |= (s * a + d * (255 - a) + 127) / 255 << shift;
  }
  return out;
}

Image compose(const Image& primary, const Image* sprite, int32_t sprite_x, int32_t sprite_y, const Image* cursor,
              int32_t cursor_x, int32_t cursor_y) {
  Image out{primary.width, primary.height, std::vector<uint32_t>(primary.px.size(), kOpaqueBlack)};
  blend_onto(out, primary, 0, 0);
  if (sprite) blend_onto(out, *sprite, sprite_x, sprite_y);
  if (cursor) blend_onto(out, *cursor, cursor_x, cursor_y);
  return out;
}

}  // namespace vgd::fb
