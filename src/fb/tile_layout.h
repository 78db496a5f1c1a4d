// In-tile layouts of the tilings a plane can scan out (docs/hardware.md, Tiling), as data: which
// bits of the byte column (x, in bytes) and of the row (y) form each bit of the 12-bit offset
// inside a 4 KiB tile. Tiles themselves are laid out row-major across the surface, stride /
// width_bytes per tile row. Every layout keeps x bits 3:0 in offset bits 3:0, so a tile row is a
// sequence of contiguous runs (16 bytes, or all 512 bytes for X) that the detiler copies whole.
//
// Bit patterns, offset bit 11 first (x = byte column, y = row; bits counted from 0 upward):
//   X          y y y x x x x x x x x x   512 B × 8 rows, rows stored one after another
//   Y          x x x y y y y y x x x x   128 B × 32 rows, 16-byte-wide columns of 32 rows
//   Yf  8 bpp  x y x y y y y y x x x x   64 B × 64 rows
//   Yf 16/32   x y x y x y y y x x x x   128 B × 32 rows
//   Yf 64/128  x y x y x x y y x x x x   256 B × 16 rows
// The Yf ("standard swizzle", gen9+) patterns are Intel's, from gmmlib
// Source/GmmLib/Utility/CpuSwizzleBlt/CpuSwizzleBlt.c (INTEL_TILE_YF_8/16/32/64/128 swizzle
// descriptors); the 32 bpp one agrees with the "xyxyxyyyxxxx" comment of igt-gpu-tools'
// yf_ptr() (tests/i915/gem_render_copy.c), and the tile sizes with Mesa's isl_tiling_get_info()
// for ISL_TILING_Yf (width 2^(6 + ffs(bs)/2) bytes, height 2^(6 - ffs(bs)/2) rows).
#pragma once

#include <array>
#include <bit>
#include <cstdint>

#include "hw/formats.h"

namespace vgd::fb {

inline constexpr uint32_t kTileBytes = 4096;

struct TileLayout {
  uint32_t width_bytes = 0;  // bytes of one tile row
  uint32_t height = 0;       // rows per tile
  uint32_t run_bytes = 0;    // contiguous bytes of a tile row: the unit the detiler copies
  // In-tile offset of the first byte of run i of row 0 and of run 0 of row r; the offset of
  // byte column x of row r is run_offset[x / run_bytes] + row_offset[r] + x % run_bytes.
  std::array<uint16_t, 32> run_offset{};
  std::array<uint16_t, 64> row_offset{};
};

namespace detail {

// Scatters the low bits of v, in order, into the set bits of mask (what x86 PDEP does).
constexpr uint32_t deposit(uint32_t v, uint32_t mask) {
  uint32_t out = 0;
  for (uint32_t bit = 1; mask != 0; bit <<= 1) {
    const uint32_t lowest = mask & (~mask + 1);
    if (v & bit) out |= lowest;
    mask &= mask - 1;
  }
  return out;
}

// A layout from the masks of offset bits fed by x (byte column) and by y (row).
constexpr TileLayout from_masks(uint32_t x_mask, uint32_t y_mask) {
  TileLayout t;
  t.width_bytes = 1u << std::popcount(x_mask);
  t.height = 1u << std::popcount(y_mask);
  t.run_bytes = 1u << std::countr_one(x_mask);
  for (uint32_t i = 0; i < t.width_bytes / t.run_bytes; ++i)
    t.run_offset[i] = static_cast<uint16_t>(deposit(i * t.run_bytes, x_mask));
  for (uint32_t r = 0; r < t.height; ++r) t.row_offset[r] = static_cast<uint16_t>(deposit(r, y_mask));
  return t;
}

}  // namespace detail

// Masks read off the patterns above (bit 11 on the left).
inline constexpr TileLayout kTileX = detail::from_masks(0b000111111111, 0b111000000000);
inline constexpr TileLayout kTileY = detail::from_masks(0b111000001111, 0b000111110000);
inline constexpr TileLayout kTileYf8 = detail::from_masks(0b101000001111, 0b010111110000);
inline constexpr TileLayout kTileYf16_32 = detail::from_masks(0b101010001111, 0b010101110000);
inline constexpr TileLayout kTileYf64_128 = detail::from_masks(0b101011001111, 0b010100110000);

static_assert(kTileX.width_bytes == 512 && kTileX.height == 8 && kTileX.run_bytes == 512);
static_assert(kTileY.width_bytes == 128 && kTileY.height == 32 && kTileY.run_bytes == 16);
static_assert(kTileYf8.width_bytes == 64 && kTileYf8.height == 64);
static_assert(kTileYf16_32.width_bytes == 128 && kTileYf16_32.height == 32);
static_assert(kTileYf64_128.width_bytes == 256 && kTileYf64_128.height == 16);

// The layout of a tiled surface with cpp bytes per pixel (one of the constants above, so callers
// may compare addresses); null for linear surfaces and pixel sizes the tiling has no layout for.
constexpr const TileLayout* tile_layout(hw::Tiling tiling, uint32_t cpp) {
  switch (tiling) {
    case hw::Tiling::X: return &kTileX;
    case hw::Tiling::Y: return &kTileY;
    case hw::Tiling::Yf:
      switch (cpp) {
        case 1: return &kTileYf8;
        case 2:
        case 4: return &kTileYf16_32;
        case 8:
        case 16: return &kTileYf64_128;
        default: return nullptr;
      }
    case hw::Tiling::Linear: return nullptr;
  }
  return nullptr;
}

}  // namespace vgd::fb
