#include "fb/convert.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
uint16_t load16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
constexpr uint16_t u16(uint32_t v) { return static_cast<uint16_t>(v); }

// One pixel of each packed RGB format to 0xAARRGGBB (alpha 0xFF where the format has none).
// Each is only shifts, masks and ors of one value, with every channel moved straight to its
// place, so that GCC vectorises the row loop at baseline x86-64 (SSE2: no 32-bit multiply).
uint32_t px_xrgb8888(const std::byte* p) { return load32(p) | kOpaque; }
uint32_t px_argb8888(const std::byte* p) { return load32(p); }
// Exchanges the bytes at bits 23:16 and 7:0: ABGR <-> ARGB.
uint32_t px_abgr8888(const std::byte* p) {
  const uint32_t v = load32(p);
  return (v & 0xFF00FF00u) | (v & 0xFFu) << 16 | (v >> 16 & 0xFFu);
}
uint32_t px_xbgr8888(const std::byte* p) { return px_abgr8888(p) | kOpaque; }
// 10-bit channels keep their top 8 bits (truncation, as an 8-bit scanout would show them).
uint32_t px_xrgb2101010(const std::byte* p) {
  const uint32_t v = load32(p);
  return kOpaque | (v >> 6 & 0xFF0000u) | (v >> 4 & 0xFF00u) | (v >> 2 & 0xFFu);
}
uint32_t px_xbgr2101010(const std::byte* p) {
  const uint32_t v = load32(p);
  return kOpaque | (v << 14 & 0xFF0000u) | (v >> 4 & 0xFF00u) | (v >> 22 & 0xFFu);
}
// 5/6-bit channels expand by bit replication (c << 3 | c >> 2 for 5 bits) so that full scale
// maps to 0xFF and 0 to 0. Both halves of the result are built in 16-bit lanes and stored as
// two uint16s: GCC then interleaves them with one unpack instead of widening each channel.
template <Output O>
void rgb565_row(const std::byte* row, uint32_t x0, uint32_t width, uint32_t* dst) {
  const std::byte* s = row + size_t{x0} * 2;
  auto* d = reinterpret_cast<std::byte*>(dst);
  constexpr uint16_t kAlpha = O == Output::Argb ? 0xFF00 : 0;
  for (uint32_t i = 0; i < width; ++i) {
    const uint16_t v = load16(s + size_t{i} * 2);
    const uint16_t gb = u16((v << 5 & 0xFC00) | (v >> 1 & 0x300) | (v << 3 & 0xF8) | (v >> 2 & 7));
    const uint16_t ar = u16(kAlpha | (v >> 8 & 0xF8) | v >> 13);
    std::memcpy(d + size_t{i} * 4, &gb, 2);
    std::memcpy(d + size_t{i} * 4 + 2, &ar, 2);
  }
}
// Indexed colour: no palette (DSPPAL / LGC_PALETTE) is emulated yet, so the index is shown as a
// grey level. Wrong colours, but the picture stays recognisable.
uint32_t px_c8(const std::byte* p) {
  const uint32_t c = std::to_integer<uint32_t>(*p);
  return kOpaque | c << 16 | c << 8 | c;
}

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
// and chroma excursions clip, as they would on a display). This is the reference; the vector
// kernel below computes exactly the same values.
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
  return clamp8(l + c.r) << 16 | clamp8(l + c.g) << 8 | clamp8(l + c.b);
}

#if defined(__SSE2__)
// 8 macropixels (16 pixels) at a time in 16-bit lanes. GCC does not vectorise the scalar formula
// well at baseline x86-64 (32-bit lanes, emulated multiplies: no faster than scalar), hence SSE2
// intrinsics, which every x86-64 CPU has. Exactness: split 298 = 256 + 42, 409 = 256 + 153,
// -208 = -256 + 48, 516 = 512 + 4; floor((256 k + t) / 256) = k + (t >> 8) for integer k, so
//   R = Y + (V - 144) + ((42 Y + 153 V - 20128) >> 8)
//   G = Y + (112 - V) + ((42 Y - 100 U + 48 V + 6112) >> 8)
//   B = Y + (2 U - 272) + ((42 Y + 4 U - 1056) >> 8)
// with Y, U, V the raw bytes. Each bracket lies in -20128..29597 for every input, so 16-bit
// wrapping products and sums give it exactly; packus is the clamp. tests/fb_convert_exact_test
// compares every (Y, U, V) with the formula above.
// Even and odd pixels go in separate registers, lane i holding macropixel i, so the chroma
// terms line up with both without being duplicated; one 32-bit unpack restores pixel order.
template <int Y0, int U, int Y1, int V, Output O>
void yuv422_sse2(const std::byte* m, uint32_t blocks, uint32_t* dst) {
  const __m128i lo8 = _mm_set1_epi32(0xFF), alpha = _mm_set1_epi8(O == Output::Argb ? -1 : 0);
  // The byte at pos of each of the 8 macropixels in a, b, as 16-bit lanes.
  const auto chan = [&](__m128i a, __m128i b, int pos) {
    const auto one = [&](__m128i x) {
      return pos == 3 ? _mm_srli_epi32(x, 24) : _mm_and_si128(_mm_srli_epi32(x, 8 * pos), lo8);
    };
    return _mm_packs_epi32(one(a), one(b));
  };
  const auto k = [](int v) {
    __m128i c = _mm_set1_epi16(static_cast<int16_t>(v));
    // Opaque to GCC, which would otherwise turn each pmullw by a constant into shifts and adds
    // (about 7 instructions instead of 1).
    __asm__("" : "+x"(c));
    return c;
  };
  const __m128i k42 = k(42), k153 = k(153), k48 = k(48), k100 = k(100);
  const __m128i cr0 = k(-20128), cg0 = k(6112), cb0 = k(-1056), or0 = k(144), og0 = k(112), ob0 = k(272);
  for (uint32_t i = 0; i < blocks; ++i, m += 32, dst += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(m));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(m + 16));
    const __m128i u = chan(a, b, U), v = chan(a, b, V), ye = chan(a, b, Y0), yo = chan(a, b, Y1);
    const __m128i cr = _mm_add_epi16(_mm_mullo_epi16(v, k153), cr0), orr = _mm_sub_epi16(v, or0);
    const __m128i cg = _mm_add_epi16(_mm_sub_epi16(_mm_mullo_epi16(v, k48), _mm_mullo_epi16(u, k100)), cg0);
    const __m128i og = _mm_sub_epi16(og0, v);
    const __m128i cb = _mm_add_epi16(_mm_slli_epi16(u, 2), cb0), ob = _mm_sub_epi16(_mm_add_epi16(u, u), ob0);
    const __m128i te = _mm_mullo_epi16(ye, k42), to = _mm_mullo_epi16(yo, k42);
    // One channel, 8 even then 8 odd pixels, clamped to bytes.
    const auto channel = [&](__m128i c, __m128i o) {
      const auto half = [&](__m128i y, __m128i t) {
        return _mm_add_epi16(_mm_add_epi16(y, o), _mm_srai_epi16(_mm_add_epi16(t, c), 8));
      };
      return _mm_packus_epi16(half(ye, te), half(yo, to));
    };
    const __m128i r = channel(cr, orr), g = channel(cg, og), bl = channel(cb, ob);
    const __m128i bg_e = _mm_unpacklo_epi8(bl, g), bg_o = _mm_unpackhi_epi8(bl, g);
    const __m128i ra_e = _mm_unpacklo_epi8(r, alpha), ra_o = _mm_unpackhi_epi8(r, alpha);
    const __m128i e0 = _mm_unpacklo_epi16(bg_e, ra_e), e1 = _mm_unpackhi_epi16(bg_e, ra_e);  // px 0 2 4 6, 8 ..
    const __m128i o0 = _mm_unpacklo_epi16(bg_o, ra_o), o1 = _mm_unpackhi_epi16(bg_o, ra_o);  // px 1 3 5 7, 9 ..
    __m128i* out = reinterpret_cast<__m128i*>(dst);
    _mm_storeu_si128(out, _mm_unpacklo_epi32(e0, o0));
    _mm_storeu_si128(out + 1, _mm_unpackhi_epi32(e0, o0));
    _mm_storeu_si128(out + 2, _mm_unpacklo_epi32(e1, o1));
    _mm_storeu_si128(out + 3, _mm_unpackhi_epi32(e1, o1));
  }
}
#endif

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
  uint32_t pairs = n / 2;
#if defined(__SSE2__)  // elsewhere (not a target yet) every pair takes the scalar loop below
  yuv422_sse2<Y0, U, Y1, V, O>(m, pairs / 8, dst);
  m += size_t{pairs / 8} * 32;
  dst += size_t{pairs / 8} * 16;
  pairs %= 8;
#endif
  for (uint32_t i = 0; i < pairs; ++i, m += 4, dst += 2) {
    const Chroma c = chroma(std::to_integer<int>(m[U]), std::to_integer<int>(m[V]));
    dst[0] = finish<O>(kOpaque | with_luma(std::to_integer<int>(m[Y0]), c));
    dst[1] = finish<O>(kOpaque | with_luma(std::to_integer<int>(m[Y1]), c));
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
    packed<px_c8, 1>(drm::kC8),
    FormatEntry{drm::kRGB565, 2, 1, &rgb565_row<Output::Xrgb>, &rgb565_row<Output::Argb>},
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
