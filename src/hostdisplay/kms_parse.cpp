#include "hostdisplay/kms_parse.h"

#include <fmt/format.h>

#include <array>
#include <cstring>

#include "hw/formats.h"

namespace vgd::hostdisplay::kms {

namespace {

// The kernel's names, indexed by DRM_MODE_CONNECTOR_* (drm_connector.c's enum list).
constexpr std::array<const char*, 21> kConnectorTypes = {
    "Unknown", "VGA",  "DVI-I", "DVI-D",  "DVI-A", "Composite", "SVIDEO", "LVDS",      "Component", "DIN", "DP",
    "HDMI-A",  "HDMI-B", "TV",  "eDP",    "Virtual", "DSI",     "DPI",    "Writeback", "SPI",       "USB"};

// struct drm_format_modifier_blob: six u32 (version, flags, count_formats, formats_offset,
// count_modifiers, modifiers_offset); struct drm_format_modifier: u64 formats (a bit per format,
// from `offset`), u32 offset, u32 pad, u64 modifier. kms_display.cpp checks these against the
// uapi header.
constexpr size_t kBlobHeader = 24;
constexpr size_t kModifierEntry = 24;
constexpr uint32_t kBlobVersion = 1;

template <class T>
T load(std::span<const uint8_t> bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

}  // namespace

std::string connector_name(uint32_t connector_type, uint32_t connector_type_id) {
  const char* type = connector_type < kConnectorTypes.size() ? kConnectorTypes[connector_type] : "Unknown";
  return fmt::format("{}-{}", type, connector_type_id);
}

std::optional<PlaneType> plane_type(uint64_t value) {
  switch (value) {
    case 0: return PlaneType::Overlay;
    case 1: return PlaneType::Primary;
    case 2: return PlaneType::Cursor;
    default: return std::nullopt;
  }
}

Expected<std::vector<FormatModifier>, std::string> parse_in_formats(std::span<const uint8_t> blob) {
  if (blob.size() < kBlobHeader) return Unexpected(fmt::format("IN_FORMATS blob of {} bytes has no header", blob.size()));
  const auto version = load<uint32_t>(blob, 0);
  const auto count_formats = load<uint32_t>(blob, 8);
  const auto formats_offset = load<uint32_t>(blob, 12);
  const auto count_modifiers = load<uint32_t>(blob, 16);
  const auto modifiers_offset = load<uint32_t>(blob, 20);
  if (version != kBlobVersion) return Unexpected(fmt::format("IN_FORMATS blob version {} (not {})", version, kBlobVersion));
  // 64-bit sums: offsets and counts are the kernel's, but a wrong one must not wrap.
  if (uint64_t{formats_offset} + uint64_t{count_formats} * 4 > blob.size() ||
      uint64_t{modifiers_offset} + uint64_t{count_modifiers} * kModifierEntry > blob.size())
    return Unexpected(fmt::format("IN_FORMATS blob of {} bytes: {} formats at {} or {} modifiers at {} lie outside it",
                                  blob.size(), count_formats, formats_offset, count_modifiers, modifiers_offset));
  std::vector<FormatModifier> out;
  for (uint32_t m = 0; m < count_modifiers; ++m) {
    const size_t at = modifiers_offset + size_t{m} * kModifierEntry;
    const auto mask = load<uint64_t>(blob, at);
    const auto first = load<uint32_t>(blob, at + 8);
    const auto modifier = load<uint64_t>(blob, at + 16);
    for (uint32_t bit = 0; bit < 64; ++bit) {
      if (!(mask >> bit & 1)) continue;
      const uint64_t index = uint64_t{first} + bit;
      if (index >= count_formats)
        return Unexpected(fmt::format("IN_FORMATS modifier {:#x} names format {} of {}", modifier, index, count_formats));
      out.push_back({load<uint32_t>(blob, formats_offset + index * 4), modifier});
    }
  }
  return out;
}

std::vector<FormatModifier> linear_formats(std::span<const uint32_t> fourccs) {
  std::vector<FormatModifier> out;
  for (uint32_t f : fourccs) out.push_back({f, hw::drm::kModLinear});
  return out;
}

uint32_t refresh_mhz(uint32_t clock_khz, uint32_t htotal, uint32_t vtotal, uint32_t vscan, bool interlace,
                     bool double_scan) {
  uint64_t num = uint64_t{clock_khz} * 1'000'000;  // millihertz per kHz of pixel clock
  uint64_t den = uint64_t{htotal} * vtotal;
  if (interlace) num *= 2;
  if (double_scan) den *= 2;
  if (vscan > 1) den *= vscan;
  return den == 0 ? 0 : static_cast<uint32_t>((num + den / 2) / den);
}

uint32_t dumb_bpp(uint32_t fourcc) {
  namespace d = hw::drm;
  switch (fourcc) {
    case d::kXRGB8888: case d::kARGB8888: case d::kXBGR8888: case d::kABGR8888:
    case d::kXRGB2101010: case d::kXBGR2101010:
      return 32;
    case d::kRGB565:
      return 16;
    default:
      return 0;
  }
}

}  // namespace vgd::hostdisplay::kms
