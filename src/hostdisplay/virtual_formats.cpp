#include "hostdisplay/virtual_formats.h"

#include <fmt/format.h>

#include "fb/convert.h"
#include "fb/tile_layout.h"

namespace vgd::hostdisplay::vmon {
namespace {

namespace drm = hw::drm;

constexpr uint32_t kPlaneFourccs[] = {
    drm::kXRGB8888,    drm::kARGB8888,    drm::kXBGR8888, drm::kABGR8888, drm::kXRGB2101010,
    drm::kXBGR2101010, drm::kRGB565,      drm::kYUYV,     drm::kUYVY,     drm::kYVYU,
    drm::kVYUY,
};

struct ModifierTiling {
  uint64_t modifier;
  hw::Tiling tiling;
};
constexpr ModifierTiling kModifiers[] = {
    {drm::kModLinear, hw::Tiling::Linear},
    {drm::kModXTiled, hw::Tiling::X},
    {drm::kModYTiled, hw::Tiling::Y},
    {drm::kModYfTiled, hw::Tiling::Yf},
};

}  // namespace

std::vector<FormatModifier> plane_formats() {
  std::vector<FormatModifier> out;
  for (const ModifierTiling& m : kModifiers)
    for (uint32_t f : kPlaneFourccs) out.push_back({f, m.modifier});
  return out;
}

std::vector<FormatModifier> cursor_formats() { return {{drm::kARGB8888, drm::kModLinear}}; }

std::optional<hw::Tiling> tiling_of(uint64_t modifier) {
  for (const ModifierTiling& m : kModifiers)
    if (m.modifier == modifier) return m.tiling;
  return std::nullopt;
}

uint64_t layout_bytes(const BufferLayout& l) {
  const uint32_t cpp = fb::format_cpp(l.format.fourcc);
  const std::optional<hw::Tiling> tiling = tiling_of(l.format.modifier);
  if (l.height == 0 || !tiling) return 0;
  if (const fb::TileLayout* t = fb::tile_layout(*tiling, cpp)) {
    const uint64_t tile_rows = (uint64_t{l.height} + t->height - 1) / t->height;
    return tile_rows * (l.pitch[0] / t->width_bytes) * fb::kTileBytes;
  }
  // As KMS checks a framebuffer: the last row needs only its pixels, not the whole pitch.
  return uint64_t{l.height - 1} * l.pitch[0] + uint64_t{l.width} * cpp;
}

std::optional<std::string> layout_error(const BufferLayout& l, uint64_t available) {
  const uint32_t cpp = fb::format_cpp(l.format.fourcc);
  const std::optional<hw::Tiling> tiling = tiling_of(l.format.modifier);
  if (cpp == 0 || l.format.fourcc == drm::kC8) return fmt::format("pixel format {:#010x} is not shown", l.format.fourcc);
  if (!tiling) return fmt::format("modifier {:#018x} is not shown", l.format.modifier);
  if (l.width == 0 || l.height == 0) return fmt::format("empty buffer {}x{}", l.width, l.height);
  if (l.width % fb::pixels_per_group(l.format.fourcc) != 0)
    return fmt::format("packed YUV width {} is odd", l.width);
  for (int i = 1; i < 4; ++i)
    if (l.pitch[i] != 0 || l.offset[i] != 0) return std::string("one memory plane only: every format shown is packed");
  if (uint64_t{l.width} * cpp > l.pitch[0])
    return fmt::format("pitch {} is shorter than {} pixels of {} bytes", l.pitch[0], l.width, cpp);
  if (const fb::TileLayout* t = fb::tile_layout(*tiling, cpp); t && l.pitch[0] % t->width_bytes != 0)
    return fmt::format("pitch {} is not a whole number of {}-byte tiles", l.pitch[0], t->width_bytes);
  if (const uint64_t need = layout_bytes(l); need > available)
    return fmt::format("layout needs {} bytes from its offset, the memory has {}", need, available);
  return std::nullopt;
}

}  // namespace vgd::hostdisplay::vmon
