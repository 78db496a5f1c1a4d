// Conversion of every pixel format a plane can scan out (docs/hardware.md, Pixel formats) to
// 32-bit 0xAARRGGBB values (in memory B, G, R, A: DRM's ARGB8888 / XRGB8888 on little-endian).
#pragma once

#include <cstddef>
#include <cstdint>

namespace vgd::fb {

enum class Output : uint8_t {
  Xrgb,  // alpha byte 0: XRGB8888 for a display buffer
  Argb,  // alpha byte from the format, 0xFF for formats without alpha: for composition
};

// Converts pixels [x0, x0 + width) of one row of a surface (row points at the row's pixel 0) to
// dst. x0 matters for packed YUV, where two pixels share a 4-byte macropixel.
using RowConverter = void (*)(const std::byte* row, uint32_t x0, uint32_t width, uint32_t* dst);

// The converter for a DRM fourcc, or nullptr for a format we do not convert.
RowConverter row_converter(uint32_t fourcc, Output out);

// Bytes per pixel and pixels per addressable group (2 for packed 4:2:2 YUV, else 1); 0 when the
// format is unknown.
uint32_t format_cpp(uint32_t fourcc);
uint32_t pixels_per_group(uint32_t fourcc);

// BT.601 limited range ("studio swing", Y 16..235, Cb/Cr 16..240) to 0x00RRGGBB.
uint32_t yuv_to_rgb(uint8_t y, uint8_t u, uint8_t v);

}  // namespace vgd::fb
