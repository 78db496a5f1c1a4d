// Pixel formats and tilings a plane can scan out (docs/hardware.md, Pixel formats, Tiling):
// PLANE_CTL codes to DRM fourcc and modifier, bytes per pixel, stride units, tile geometry. Pure.
#pragma once

#include <cstdint>
#include <optional>

namespace vgd::hw {

constexpr uint32_t fourcc(char a, char b, char c, char d) {
  return static_cast<uint32_t>(a) | static_cast<uint32_t>(b) << 8 | static_cast<uint32_t>(c) << 16 |
         static_cast<uint32_t>(d) << 24;
}

namespace drm {
inline constexpr uint32_t kXRGB8888 = fourcc('X', 'R', '2', '4');
inline constexpr uint32_t kXBGR8888 = fourcc('X', 'B', '2', '4');
inline constexpr uint32_t kARGB8888 = fourcc('A', 'R', '2', '4');
inline constexpr uint32_t kABGR8888 = fourcc('A', 'B', '2', '4');
inline constexpr uint32_t kXRGB2101010 = fourcc('X', 'R', '3', '0');
inline constexpr uint32_t kXBGR2101010 = fourcc('X', 'B', '3', '0');
inline constexpr uint32_t kRGB565 = fourcc('R', 'G', '1', '6');
inline constexpr uint32_t kYUYV = fourcc('Y', 'U', 'Y', 'V');
inline constexpr uint32_t kUYVY = fourcc('U', 'Y', 'V', 'Y');
inline constexpr uint32_t kYVYU = fourcc('Y', 'V', 'Y', 'U');
inline constexpr uint32_t kVYUY = fourcc('V', 'Y', 'U', 'Y');
inline constexpr uint32_t kC8 = fourcc('C', '8', ' ', ' ');

inline constexpr uint64_t kModLinear = 0;
inline constexpr uint64_t kModXTiled = 0x0100000000000001ull;
inline constexpr uint64_t kModYTiled = 0x0100000000000002ull;
inline constexpr uint64_t kModYfTiled = 0x0100000000000003ull;
}  // namespace drm

enum class Tiling : uint8_t { Linear, X, Y, Yf };

struct TilingInfo {
  Tiling tiling;
  uint64_t modifier;
  uint32_t stride_unit;  // bytes per PLANE_STRIDE unit
  uint32_t size_rows;    // height is rounded up to this for the plane's size: the tile height
};

// From PLANE_CTL bits 12:10 and bytes per pixel; nothing for reserved codes.
constexpr std::optional<TilingInfo> tiling_from_ctl(uint32_t code, uint32_t cpp) {
  switch (code) {
    case 0: return TilingInfo{Tiling::Linear, drm::kModLinear, 64, 1};
    case 1: return TilingInfo{Tiling::X, drm::kModXTiled, 512, 8};
    case 4: return TilingInfo{Tiling::Y, drm::kModYTiled, 128, 32};
    // 8 bpp Yf tiles are 64 B × 64 rows, not 128 B × 32: rounding the height to 32 rows gave a
    // size short of the last tile row, so a decoded plane could not be rendered (or exported
    // whole). 16-row tiles (64/128 bpp) need no more than 32.
    case 5: return TilingInfo{Tiling::Yf, drm::kModYfTiled, cpp == 1 ? 64u : 128u, cpp == 1 ? 64u : 32u};
    default: return std::nullopt;
  }
}

struct FormatInfo {
  uint32_t fourcc;
  uint32_t cpp;  // bytes per pixel
};

// PLANE_CTL format (27:24), RGB order (bit 20), YUV order (17:16), alpha mode (5:4) -> format.
constexpr std::optional<FormatInfo> format_from_ctl(uint32_t format, bool rgbx, uint32_t yuv_order, uint32_t alpha) {
  switch (format) {
    case 0: {
      constexpr uint32_t kYuv[4] = {drm::kYUYV, drm::kUYVY, drm::kYVYU, drm::kVYUY};
      if (yuv_order > 3) return std::nullopt;
      return FormatInfo{kYuv[yuv_order], 2};
    }
    case 12: return FormatInfo{drm::kC8, 1};
    case 14: return FormatInfo{drm::kRGB565, 2};
    case 4:
      if (rgbx) return FormatInfo{alpha ? drm::kABGR8888 : drm::kXBGR8888, 4};
      return FormatInfo{alpha ? drm::kARGB8888 : drm::kXRGB8888, 4};
    case 2: return FormatInfo{rgbx ? drm::kXBGR2101010 : drm::kXRGB2101010, 4};
    default: return std::nullopt;  // NV12, P01x, FP16, XYUV, reserved
  }
}

// Cursor modes (CURCNTR & 0x27) -> square size in pixels; ARGB8888, linear, stride = size·4.
constexpr std::optional<uint32_t> cursor_size(uint32_t mode) {
  switch (mode & 0x27) {
    case 0x22: return 128;
    case 0x23: return 256;
    case 0x27: return 64;
    case 0x07: return 64;  // AND/XOR, exported as ARGB like upstream
    default: return std::nullopt;
  }
}

}  // namespace vgd::hw
