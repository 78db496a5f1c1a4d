// Software drawing into a Surface in guest RAM, the way a guest's fbdev or a 2D toolkit fills a
// scanout buffer: pixels are encoded for the surface's format and placed by its tiling, so what
// the host detiles and converts is exactly what was drawn. Heap-free; a Canvas only points at
// memory it does not own.
#pragma once

#include <cstddef>
#include <cstdint>

#include "guest/display.h"
#include "guest/ports.h"

namespace vgd::guest {

// BT.601 limited range ("studio swing": Y 16..235, Cb/Cr 16..240) from 8-bit R'G'B', with the
// usual 8-bit integer coefficients (×256, rounded):
//   Y  = ( 66 R + 129 G +  25 B + 128) / 256 + 16
//   Cb = (-38 R -  74 G + 112 B + 128) / 256 + 128
//   Cr = (112 R -  94 G -  18 B + 128) / 256 + 128
// the inverse of what the host's converter applies, so colours survive the round trip to within
// a couple of steps.
struct Yuv {
  uint8_t y, u, v;
};
Yuv rgb_to_yuv(uint32_t argb);

// The bytes colour 0xAARRGGBB takes in format f, as a little-endian 4-byte pattern that repeats
// along a row: one pixel of a 32-bit format, two of a 16-bit one, four of C8, and for packed
// 4:2:2 one macropixel (two pixels of this colour). X bytes (and the X bits of 2:10:10:10) are
// written as ones, i.e. opaque; C8 (no palette) gets the colour's luma as its index.
uint32_t pixel_pattern(PixelFormat f, uint32_t argb);

class Canvas {
 public:
  enum class Blend : uint8_t { Copy, SkipTransparent };

  Canvas() = default;  // invalid: draws nothing
  // Maps the surface's (contiguous) backing once; invalid if it is not in RAM.
  Canvas(RamPort& ram, const Surface& s);
  // Over len bytes the caller owns, laid out as s describes (s.buffer is not used).
  Canvas(std::byte* bytes, uint64_t len, const Surface& s);

  // False when the layout is unsupported (Yf tiling, stride not whole tiles) or the memory is
  // too small for it; every drawing call is then a no-op.
  bool valid() const { return base_ != nullptr; }
  uint32_t width() const { return s_.width; }
  uint32_t height() const { return s_.height; }
  const Surface& surface() const { return s_; }

  // Byte offset of pixel (x, y) from the start of the surface, following its tiling (for packed
  // 4:2:2: of the pixel's half of its macropixel).
  uint64_t offset(uint32_t x, uint32_t y) const { return byte_offset(x * cpp_, y); }

  // Everything below clips to the surface; coordinates may be negative or past the edge.
  // For packed 4:2:2, put writes the pixel's Y and sets the pair's shared U/V to its colour.
  void put(int32_t x, int32_t y, uint32_t argb);
  void fill_rect(int32_t x, int32_t y, int32_t w, int32_t h, uint32_t argb);
  void clear(uint32_t argb);
  // Rows blend linearly from top (first row) to bottom (last row), per channel.
  void vgradient(int32_t x, int32_t y, int32_t w, int32_t h, uint32_t top, uint32_t bottom);
  // Text in the built-in font, transparent background, cell font::kWidth·scale wide; characters
  // outside printable ASCII draw as '?'. Returns the x after the last cell.
  int32_t draw_text(int32_t x, int32_t y, const char* text, uint32_t argb, uint32_t scale = 1);
  static uint32_t text_width(const char* text, uint32_t scale = 1);
  // A w × h ARGB image, row-major; SkipTransparent leaves pixels with alpha 0 untouched.
  void blit(int32_t x, int32_t y, const uint32_t* px, uint32_t w, uint32_t h, Blend b = Blend::Copy);
  // Copies `rows` pixel rows from src_y to dst_y (overlap allowed): scrolling a console.
  void move_rows(uint32_t dst_y, uint32_t src_y, uint32_t rows);

 private:
  uint64_t byte_offset(uint32_t bx, uint32_t y) const;
  uint32_t row_bytes() const;
  template <class F>
  void for_each_run(uint32_t y, uint32_t bx0, uint32_t bx1, F&& f) const;
  void fill_span(uint32_t y, uint32_t x0, uint32_t x1, uint32_t argb);

  Surface s_{};
  std::byte* base_ = nullptr;
  uint32_t cpp_ = 0;
  uint32_t run_bytes_ = 0;      // bytes of a row that are contiguous in memory
  uint32_t tiles_per_row_ = 0;  // tiled layouts: stride / tile width
};

}  // namespace vgd::guest
