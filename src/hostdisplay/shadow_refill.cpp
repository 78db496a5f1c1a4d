#include "hostdisplay/shadow_refill.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "fb/compose.h"
#include "fb/convert.h"
#include "fb/detile.h"
#include "util/address.h"

namespace vgd::hostdisplay {
namespace {

namespace drm = hw::drm;

// Rows detiled at a time before conversion: a 1920-pixel band of 32 rows (240 KiB at 4 B/px)
// stays in L2 between the detiler's writes and the converter's reads.
constexpr uint32_t kBandRows = 32;

// The converter's output for a shadow format, or nothing for one we cannot write.
std::optional<fb::Output> output_for(uint32_t fourcc) {
  if (fourcc == drm::kXRGB8888) return fb::Output::Xrgb;
  if (fourcc == drm::kARGB8888) return fb::Output::Argb;
  return std::nullopt;
}

// dst's bytes, checked to be a linear picture of at least width × height at out_cpp bytes a pixel.
Expected<std::span<std::byte>, std::string> writable(Buffer& dst, uint32_t width, uint32_t height, uint32_t out_cpp) {
  const BufferLayout& l = dst.layout();
  const std::span<std::byte> px = dst.pixels();
  if (px.empty()) return Unexpected(std::string("shadow buffer is not CPU-writable"));
  if (l.format.modifier != drm::kModLinear) return Unexpected(std::string("shadow buffer is not linear"));
  if (l.width < width || l.height < height)
    return Unexpected(fmt::format("shadow buffer {}x{} is smaller than the picture {}x{}", l.width, l.height, width, height));
  if (uint64_t{l.pitch[0]} < uint64_t{l.width} * out_cpp ||
      l.offset[0] + uint64_t{l.pitch[0]} * (l.height - 1) + uint64_t{l.width} * out_cpp > px.size())
    return Unexpected(fmt::format("shadow buffer pitch {} does not fit its {} bytes", l.pitch[0], px.size()));
  return px.subspan(l.offset[0]);
}

uint32_t* row32(std::span<std::byte> px, uint32_t pitch, uint32_t y) {
  return reinterpret_cast<uint32_t*>(px.data() + uint64_t{y} * pitch);
}

// One bilinear tap along an axis: the two source pixels and the second one's weight (0..256).
struct Tap {
  uint32_t i0, i1, f;
};

// Where each of dst_n destination pixels samples src_n source pixels: at its centre,
// (d + 1/2) · src_n / dst_n - 1/2 in 16.16, clamped to the first pixel; weights in 8 bits.
std::vector<Tap> taps(uint32_t src_n, uint32_t dst_n) {
  std::vector<Tap> t(dst_n);
  const uint64_t step = (uint64_t{src_n} << 16) / dst_n;
  for (uint32_t d = 0; d < dst_n; ++d) {
    const int64_t u = static_cast<int64_t>(d * step + step / 2) - 0x8000;
    const uint64_t c = static_cast<uint64_t>(std::max<int64_t>(u, 0));
    const uint32_t i0 = static_cast<uint32_t>(std::min<uint64_t>(c >> 16, src_n - 1));
    t[d] = {i0, std::min(i0 + 1, src_n - 1), static_cast<uint32_t>((c & 0xFFFF) + 0x80) >> 8};
  }
  return t;
}

// a·(256 - f) + b·f over 256, rounded, for the four bytes at once: two 16-bit lanes per word
// (255 · 256 + 128 stays below 2^16, so lanes never carry into each other).
inline uint32_t lerp(uint32_t a, uint32_t b, uint32_t f) {
  const uint32_t g = 256 - f;
  const uint32_t rb = ((a & 0x00FF00FFu) * g + (b & 0x00FF00FFu) * f + 0x00800080u) >> 8 & 0x00FF00FFu;
  const uint32_t ag = ((a >> 8 & 0x00FF00FFu) * g + (b >> 8 & 0x00FF00FFu) * f + 0x00800080u) & 0xFF00FF00u;
  return rb | ag;
}

}  // namespace

Expected<RefillStats, std::string> Refiller::refill(const decode::PlaneInfo& plane, const fb::PlaneView& view,
                                                    Buffer& dst, const Region& region) {
  const uint32_t dst_fourcc = dst.layout().format.fourcc;
  const bool copy = dst_fourcc == plane.fourcc;
  const auto out = output_for(dst_fourcc);
  const fb::RowConverter convert = out ? fb::row_converter(plane.fourcc, *out) : nullptr;
  if (!copy && !convert)
    return Unexpected(fmt::format("cannot refill a {:#010x} shadow from a {:#010x} plane", dst_fourcc, plane.fourcc));
  if (fb::format_cpp(plane.fourcc) != plane.cpp)
    return Unexpected(fmt::format("plane has {} bytes per pixel, its format {}", plane.cpp, fb::format_cpp(plane.fourcc)));
  const uint32_t group = fb::pixels_per_group(plane.fourcc);
  if (copy && plane.x_offset % group != 0)
    return Unexpected(fmt::format("a copy cannot start mid-macropixel (x offset {})", plane.x_offset));
  const uint32_t out_cpp = copy ? plane.cpp : 4;
  auto px = writable(dst, plane.width, plane.height, out_cpp);
  if (!px) return Unexpected(px.error());
  const uint32_t pitch = dst.layout().pitch[0];

  // The whole window, widened to whole macropixels, once: every rectangle lies inside it.
  const fb::TiledSurface surface{view.bytes(), plane.tiling, plane.cpp, plane.stride};
  const uint32_t lead = plane.x_offset % group;
  const fb::Window whole{plane.x_offset - lead, plane.y_offset,
                         static_cast<uint32_t>(align_up(uint64_t{lead} + plane.width, group)), plane.height};
  if (auto err = fb::check_window(surface, whole)) return Unexpected(fmt::format("plane window: {}", *err));

  RefillStats stats;
  std::vector<Rect> rects = damaged_tiles(region, plane.width, plane.height);
  uint64_t area = 0;
  for (const Rect& r : rects) area += uint64_t{r.w} * r.h;
  const uint64_t total = uint64_t{plane.width} * plane.height;
  if (region.whole() || static_cast<double>(area) > kWholeRefillFraction * static_cast<double>(total)) {
    rects.assign(1, Rect{0, 0, plane.width, plane.height});
    stats.whole = true;
  }

  for (const Rect& r : rects) {
    stats.bytes += uint64_t{r.w} * r.h * out_cpp;
    ++stats.rects;
    const uint32_t x = plane.x_offset + r.x, y = plane.y_offset + r.y;
    std::byte* const d = px->data() + uint64_t{r.y} * pitch + uint64_t{r.x} * out_cpp;
    if (copy) {
      fb::detile_into(surface, {x, y, r.w, r.h}, d, pitch);
      continue;
    }
    if (plane.tiling == hw::Tiling::Linear) {
      for (uint32_t i = 0; i < r.h; ++i)
        convert(surface.bytes.data() + uint64_t{y + i} * plane.stride, x, r.w, row32(*px, pitch, r.y + i) + r.x);
      continue;
    }
    // Tiled: detile a band (from a macropixel's start), convert it, next band.
    const uint32_t l = x % group;
    const uint32_t band_w = static_cast<uint32_t>(align_up(uint64_t{l} + r.w, group));
    const size_t band_stride = size_t{band_w} * plane.cpp;
    scratch_.resize(band_stride * kBandRows);
    for (uint32_t b = 0; b < r.h; b += kBandRows) {
      const uint32_t rows = std::min(kBandRows, r.h - b);
      fb::detile_into(surface, {x - l, y + b, band_w, rows}, scratch_.data(), band_stride);
      for (uint32_t i = 0; i < rows; ++i)
        convert(scratch_.data() + i * band_stride, l, r.w, row32(*px, pitch, r.y + b + i) + r.x);
    }
  }
  return stats;
}

Rect fit_rect(uint32_t src_w, uint32_t src_h, uint32_t dst_w, uint32_t dst_h) {
  if (src_w == 0 || src_h == 0 || dst_w == 0 || dst_h == 0) return {};
  // Full width if src is at least as wide (in aspect) as dst, else full height; 64-bit products.
  uint32_t w = dst_w, h = dst_h;
  if (uint64_t{src_w} * dst_h >= uint64_t{dst_w} * src_h)
    h = static_cast<uint32_t>(std::max<uint64_t>(1, (uint64_t{dst_w} * src_h + src_w / 2) / src_w));
  else
    w = static_cast<uint32_t>(std::max<uint64_t>(1, (uint64_t{dst_h} * src_w + src_h / 2) / src_h));
  return {(dst_w - w) / 2, (dst_h - h) / 2, w, h};
}

void scale_bilinear(const fb::Image& src, uint32_t* dst, size_t dst_stride, Rect into) {
  if (src.width == 0 || src.height == 0 || into.empty()) return;
  const std::vector<Tap> xs = taps(src.width, into.w), ys = taps(src.height, into.h);
  // Separable: the two source rows blended into one (vertical), then each destination pixel
  // from two of its pixels (horizontal).
  std::vector<uint32_t> blended(src.width);
  for (uint32_t dy = 0; dy < into.h; ++dy) {
    const Tap ty = ys[dy];
    const uint32_t* row = &src.at(0, ty.i0);
    if (ty.f != 0 && ty.i1 != ty.i0) {
      const uint32_t* r1 = &src.at(0, ty.i1);
      for (uint32_t i = 0; i < src.width; ++i) blended[i] = lerp(row[i], r1[i], ty.f);
      row = blended.data();
    }
    uint32_t* out = dst + (into.y + dy) * dst_stride + into.x;
    for (uint32_t dx = 0; dx < into.w; ++dx) out[dx] = lerp(row[xs[dx].i0], row[xs[dx].i1], xs[dx].f);
  }
}

Expected<RefillStats, std::string> compose_scaled(const ComposeSources& src, Buffer& dst) {
  if (!src.primary || !src.primary_view) return Unexpected(std::string("nothing to compose: the primary is off"));
  const auto out = output_for(dst.layout().format.fourcc);
  if (!out) return Unexpected(fmt::format("cannot compose into a {:#010x} shadow", dst.layout().format.fourcc));
  const uint32_t width = dst.layout().width, height = dst.layout().height, pitch = dst.layout().pitch[0];
  auto px = writable(dst, width, height, 4);
  if (!px) return Unexpected(px.error());

  const auto render = [](const decode::PlaneInfo* p, const fb::PlaneView* v) -> Expected<std::optional<fb::Image>, std::string> {
    if (!p || !v) return std::optional<fb::Image>{};
    auto img = fb::render_plane(*p, *v);
    if (!img) return Unexpected(img.error());
    return std::optional<fb::Image>(std::move(*img));
  };
  auto primary = render(src.primary, src.primary_view);
  auto sprite = render(src.sprite, src.sprite_view);
  auto cursor = render(src.cursor, src.cursor_view);
  for (const auto* e : {&primary, &sprite, &cursor})
    if (!*e) return Unexpected(e->error());
  const fb::Image* s = *sprite ? &**sprite : nullptr;
  const fb::Image* c = *cursor ? &**cursor : nullptr;
  fb::Image picture = fb::compose(**primary, s, src.sprite ? src.sprite->x_pos : 0, src.sprite ? src.sprite->y_pos : 0,
                                  c, src.cursor ? src.cursor->x_pos : 0, src.cursor ? src.cursor->y_pos : 0);
  // XRGB8888 shadows get the X byte 0, as the converters write it.
  if (*out == fb::Output::Xrgb)
    for (uint32_t& p : picture.px) p &= 0x00FFFFFFu;

  const Rect into = fit_rect(picture.width, picture.height, width, height);
  const uint32_t black = *out == fb::Output::Xrgb ? 0u : 0xFF000000u;
  for (uint32_t y = 0; y < height; ++y) {
    uint32_t* row = row32(*px, pitch, y);
    if (y < into.y || y >= into.y + into.h) {
      std::fill(row, row + width, black);
    } else {
      std::fill(row, row + into.x, black);
      std::fill(row + into.x + into.w, row + width, black);
    }
  }
  scale_bilinear(picture, row32(*px, pitch, 0), pitch / 4, into);
  return RefillStats{uint64_t{width} * height * 4, 1, true};
}

}  // namespace vgd::hostdisplay
