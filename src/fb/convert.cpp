#include "fb/convert.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "hw/formats.h"

namespace vgd::fb {
namespace {

// DRM formats are little-endian; reading them with memcpy into host integers relies on that.
static_assert(std::endian::native == std::endian::little, "pixel loads assume a little-endian host");

constexpr uint32_t kOpaque = 0xFF000000u;

uint32_t load32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t load16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
constexpr uint32_t argb(uint32_t a, uint32_t r, uint32_t g, uint32_t b) { return a << 24 | r << 16 | g << 8 | b; }
// Exchanges the bytes at bits 23:16 and 7:0: ABGR <-> ARGB.
constexpr uint32_t swap_rb(uint32_t v) { return (v & 0xFF00FF00u) | (v & 0xFFu) << 16 | (v >> 16 & 0xFFu); }

// One pixel of each packed RGB format to 0xAARRGGBB (alpha 0xFF where the format has none).
uint32_t px_xrgb8888(const std::byte* p) { return load32(p) | kOpaque; }
uint32_t px_argb8888(const std::byte* p) { return load32(p); }
uint32_t px_xbgr8888(const std::byte* p) { return swap_rb(load32(p)) | kOpaque; }
uint32_t px_abgr8888(const std::byte* p) { return swap_rb(load32(p)); }
// 10-bit channels keep their top 8 bits (truncation, as an 8-bit scanout would show them).
uint32_t px_xrgb2101010(const std::byte* p) {
  const uint32_t v = load32(p);
  return argb(0xFF, v >> 22 & 0xFF, v >> 12 & 0xFF, v >> 2 & 0xFF);
}
uint32_t px_xbgr2101010(const std::byte* p) {
  const uint32_t v = load32(p);
  return argb(0xFF, v >> 2 & 0xFF, v >> 12 & 0xFF, v >> 22 & 0xFF);
}
// 5/6-bit channels expand by bit replication so that full scale maps to 0xFF and 0 to 0.
uint32_t px_rgb565(const std::byte* p) {
  const uint32_t v = load16(p);
  const uint32_t r = v >> 11 & 0x1F, g = v >> 5 & 0x3F, b = v & 0x1F;
  return argb(0xFF, r << 3 | r >> 2, g << 2 | g >> 4, b << 3 | b >> 2);
}
// Indexed colour: no palette (DSPPAL / LGC_PALETTE) is emulated yet, so the index is shown as a
// grey level. Wrong colours, but the picture stays recognisable.
uint32_t px_c8(const std::byte* p) { return kOpaque | 0x010101u * std::to_integer<uint32_t>(*p); }

template <Output O>
constexpr uint32_t finish(uint32_t v) {
  return O == Output::Xrgb ? v & 0x00FFFFFFu : v;
}

template <uint32_t (*Pixel)(const std::byte*), uint32_t Cpp, Output O>
void packed_row(const std::byte* row, uint32_t x0, uint32_t width, uint32_t* dst) {
  const std::byte* s = row + size_t{x0} * Cpp;
  for (uint32_t i = 0; i < width; ++i) dst[i] = finish<O>(Pixel(s + size_t{i} * Cpp));
}

// BT.601 (Kr = 0.299, Kb = 0.114), limited range, in 8.8 fixed point:
//   R = 1.164 (Y-16)                 + 1.596 (V-128)
//   G = 1.164 (Y-16) - 0.391 (U-128) - 0.813 (V-128)
//   B = 1.164 (Y-16) + 2.018 (U-128)
// i.e. 298, 409, 100, 208, 516 over 256, rounded, clamped to 0..255 (Y below 16 or above 235
// and chroma excursions clip, as they would on a display).
// Split so that a macropixel's chroma terms are computed once for its two pixels.
struct Chroma {
  int r, g, b;  // chroma contribution to each channel, rounding included
};
inline Chroma chroma(int u, int v) {
  const int d = u - 128, e = v - 128;
  return {409 * e + 128, -100 * d - 208 * e + 128, 516 * d + 128};
}
inline uint32_t with_luma(int y, Chroma c) {
  const int l = 298 * (y - 16);
  const auto clamp8 = [](int x) { return static_cast<uint32_t>(std::clamp(x >> 8, 0, 255)); };
  return argb(0, clamp8(l + c.r), clamp8(l + c.g), clamp8(l + c.b));
}

// Packed 4:2:2: a 4-byte macropixel holds Y of two pixels and the U, V they share; the template
// arguments are the byte positions of Y0, U, Y1, V in it. A window may start or end mid-pair.
template <int Y0, int U, int Y1, int V, Output O>
void yuv422_row(const std::byte* row, uint32_t x0, uint32_t width, uint32_t* dst) {
  const auto px = [](const std::byte* m, int y) {
    const auto at = [m](int i) { return std::to_integer<int>(m[i]); };
    return finish<O>(kOpaque | with_luma(at(y), chroma(at(U), at(V))));
  };
  const std::byte* m = row + size_t{x0 / 2} * 4;
  uint32_t n = width;
  if (x0 % 2 != 0 && n != 0) {
    *dst++ = px(m, Y1);
    m += 4;
    --n;
  }
  for (uint32_t i = 0; i < n / 2; ++i, m += 4, dst += 2) {
    dst[0] = px(m, Y0);
    dst[1] = px(m, Y1);
  }
  if (n % 2 != 0) *dst = px(m, Y0);
}

struct FormatEntry {
  uint32_t fourcc;
  uint32_t cpp;
  uint32_t group;  // pixels sharing one addressable unit
  RowConverter xrgb, argb;
};

template <uint32_t (*Pixel)(const std::byte*), uint32_t Cpp>
constexpr FormatEntry packed(uint32_t fourcc) {
  return {fourcc, Cpp, 1, &packed_row<Pixel, Cpp, Output::Xrgb>, &packed_row<Pixel, Cpp, Output::Argb>};
}
template <int Y0, int U, int Y1, int V>
constexpr FormatEntry yuv422(uint32_t fourcc) {
  return {fourcc, 2, 2, &yuv422_row<Y0, U, Y1, V, Output::Xrgb>, &yuv422_row<Y0, U, Y1, V, Output::Argb>};
}

namespace drm = hw::drm;
constexpr std::array kFormats = {
    packed<px_xrgb8888, 4>(drm::kXRGB8888),       packed<px_argb8888, 4>(drm::kARGB8888),
    packed<px_xbgr8888, 4>(drm::kXBGR8888),       packed<px_abgr8888, 4>(drm::kABGR8888),
    packed<px_xrgb2101010, 4>(drm::kXRGB2101010), packed<px_xbgr2101010, 4>(drm::kXBGR2101010),
    packed<px_rgb565, 2>(drm::kRGB565),           packed<px_c8, 1>(drm::kC8),
    // Byte order in memory, first byte first: YUYV = Y0 U Y1 V, UYVY = U Y0 V Y1, ...
    yuv422<0, 1, 2, 3>(drm::kYUYV),               yuv422<1, 0, 3, 2>(drm::kUYVY),
    yuv422<0, 3, 2, 1>(drm::kYVYU),               yuv422<1, 2, 3, 0>(drm::kVYUY),
};

const FormatEntry* find(uint32_t fourcc) {
  const auto it = std::find_if(kFormats.begin(), kFormats.end(), [&](const FormatEntry& f) { return f.fourcc == fourcc; });
  return it == kFormats.end() ? nullptr : &*it;
}

}  // namespace

RowConverter row_converter(uint32_t fourcc, Output out) {
  const FormatEntry* f = find(fourcc);
  if (!f) return nullptr;
  return out == Output::Xrgb ? f->xrgb : f->argb;
}

uint32_t format_cpp(uint32_t fourcc) {
  const FormatEntry* f = find(fourcc);
  return f ? f->cpp : 0;
}

uint32_t pixels_per_group(uint32_t fourcc) {
  const FormatEntry* f = find(fourcc);
  return f ? f->group : 0;
}

uint32_t yuv_to_rgb(uint8_t y, uint8_t u, uint8_t v) { return with_luma(y, chroma(u, v)); }

}  // namespace vgd::fb
