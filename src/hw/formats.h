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

// The codes a guest writes and the host decodes, by name on both sides.
namespace plane {
// PLANE_CTL source pixel format (bits 27:24).
enum class Format : uint32_t { Yuv422 = 0, Nv12 = 1, Xrgb2101010 = 2, Xrgb8888 = 4, Indexed8 = 12, Rgb565 = 14 };
// PLANE_CTL tiling (bits 12:10).
enum class TilingCode : uint32_t { Linear = 0, X = 1, Y = 4, Yf = 5 };
}  // namespace plane

namespace cursor {
// CURCNTR mode: bits 5 and 2:0 select it.
inline constexpr uint32_t kModeMask = 0x27;
enum class Mode : uint32_t { Disabled = 0x00, Argb128 = 0x22, Argb256 = 0x23, Argb64 = 0x27, AndXor64 = 0x07 };
}  // namespace cursor

constexpr plane::TilingCode tiling_code(Tiling t) {
  using plane::TilingCode;
  switch (t) {
    case Tiling::Linear: return TilingCode::Linear;
    case Tiling::X: return TilingCode::X;
    case Tiling::Y: return TilingCode::Y;
    case Tiling::Yf: return TilingCode::Yf;
  }
  return TilingCode::Linear;
}

struct TilingInfo {
  Tiling tiling;
  uint64_t modifier;
  uint32_t stride_unit;  // bytes per PLANE_STRIDE unit
  uint32_t size_rows;    // height is rounded up to this for the plane's size: the tile height
};

// From PLANE_CTL bits 12:10 and bytes per pixel; nothing for reserved codes.
constexpr std::optional<TilingInfo> tiling_from_ctl(uint32_t code, uint32_t cpp) {
  using plane::TilingCode;
  switch (static_cast<TilingCode>(code)) {
    case TilingCode::Linear: return TilingInfo{Tiling::Linear, drm::kModLinear, 64, 1};
    case TilingCode::X: return TilingInfo{Tiling::X, drm::kModXTiled, 512, 8};
    case TilingCode::Y: return TilingInfo{Tiling::Y, drm::kModYTiled, 128, 32};
    // 8 bpp Yf tiles are 64 B × 64 rows, not 128 B × 32: rounding the height to 32 rows gave a
    // size short of the last tile row, so a decoded plane could not be rendered (or exported
    // whole). 16-row tiles (64/128 bpp) need no more than 32.
    case TilingCode::Yf: return TilingInfo{Tiling::Yf, drm::kModYfTiled, cpp == 1 ? 64u : 128u, cpp == 1 ? 64u : 32u};
    default: return std::nullopt;
  }
}

// The guest's code for a tiling decodes back to that tiling.
static_assert([] {
  for (Tiling t : {Tiling::Linear, Tiling::X, Tiling::Y, Tiling::Yf})
    if (tiling_from_ctl(static_cast<uint32_t>(tiling_code(t)), 4)->tiling != t) return false;
  return true;
}());

struct FormatInfo {
  uint32_t fourcc;
  uint32_t cpp;  // bytes per pixel
};

// PLANE_CTL format (27:24), RGB order (bit 20), YUV order (17:16), alpha mode (5:4) -> format.
constexpr std::optional<FormatInfo> format_from_ctl(uint32_t format, bool rgbx, uint32_t yuv_order, uint32_t alpha) {
  using plane::Format;
  switch (static_cast<Format>(format)) {
    case Format::Yuv422: {
      constexpr uint32_t kYuv[4] = {drm::kYUYV, drm::kUYVY, drm::kYVYU, drm::kVYUY};
      if (yuv_order > 3) return std::nullopt;
      return FormatInfo{kYuv[yuv_order], 2};
    }
    case Format::Indexed8: return FormatInfo{drm::kC8, 1};
    case Format::Rgb565: return FormatInfo{drm::kRGB565, 2};
    case Format::Xrgb8888:
      if (rgbx) return FormatInfo{alpha ? drm::kABGR8888 : drm::kXBGR8888, 4};
      return FormatInfo{alpha ? drm::kARGB8888 : drm::kXRGB8888, 4};
    case Format::Xrgb2101010: return FormatInfo{rgbx ? drm::kXBGR2101010 : drm::kXRGB2101010, 4};
    default: return std::nullopt;  // NV12, P01x, FP16, XYUV, reserved
  }
}

// Cursor modes (CURCNTR & 0x27) -> square size in pixels; ARGB8888, linear, stride = size·4.
constexpr std::optional<uint32_t> cursor_size(uint32_t mode) {
  using cursor::Mode;
  switch (static_cast<Mode>(mode & cursor::kModeMask)) {
    case Mode::Argb128: return 128;
    case Mode::Argb256: return 256;
    case Mode::Argb64: return 64;
    case Mode::AndXor64: return 64;  // AND/XOR, exported as ARGB like upstream
    default: return std::nullopt;  // disabled or reserved
  }
}

}  // namespace vgd::hw
