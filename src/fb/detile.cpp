#include "fb/detile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "fb/tile_layout.h"

namespace vgd::fb {
namespace {

// The copy loops are instantiated per layout (L is a compile-time constant): run sizes become
// immediates and the in-tile offsets of a row's runs constants of an unrolled loop, so a whole
// 16-byte run is one vector load and store. This is what keeps detiling near memcpy speed.

// Copies one whole row of a tile (row_base = tile + row_offset[r]) to dst in 16-byte pieces:
// with L constant the loop unrolls into plain vector moves at constant offsets (for X too,
// where a libc call or rep movs for each 512-byte row costs more than the copy).
template <const TileLayout& L>
void copy_full_tile_row(const std::byte* row_base, std::byte* dst) {
  constexpr uint32_t kPiece = 16;
  static_assert(L.run_bytes % kPiece == 0);
#pragma GCC unroll 32
  for (uint32_t x = 0; x < L.width_bytes; x += kPiece)
    std::memcpy(dst + x, row_base + L.run_offset[x / L.run_bytes] + x % L.run_bytes, kPiece);
}

// Prefetches row r's share of the cache lines of a tile: all of them over its rows.
template <const TileLayout& L>
void prefetch_lines(const std::byte* tile, uint32_t r) {
  constexpr uint32_t kLine = 64, kLinesPerRow = kTileBytes / kLine / L.height;
  for (uint32_t k = 0; k < kLinesPerRow; ++k) __builtin_prefetch(tile + (r * kLinesPerRow + k) * kLine);
}

// Copies bytes [begin, end) of one row of a tile cut by the window's left or right edge.
template <const TileLayout& L>
void copy_partial_tile_row(const std::byte* row_base, uint32_t begin, uint32_t end, std::byte* dst) {
  constexpr uint32_t kRun = L.run_bytes;
  for (uint32_t x = begin; x < end;) {
    const uint32_t in_run = x % kRun;
    const uint32_t n = std::min(kRun - in_run, end - x);
    std::memcpy(dst, row_base + L.run_offset[x / kRun] + in_run, n);
    dst += n;
    x += n;
  }
}

// Walks tile by tile (each 4 KiB tile is read while it sits in L1) and, inside a tile, row by
// row, appending each row's slice to the matching destination row.
template <const TileLayout& L>
void detile_tiled(const TiledSurface& s, const Window& win, std::byte* dst, size_t dst_stride) {
  const uint64_t row_of_tiles = uint64_t{s.stride} / L.width_bytes * kTileBytes;
  const uint32_t x_begin = win.x * s.cpp, x_end = (win.x + win.width) * s.cpp;  // bytes
  const uint32_t y_end = win.y + win.height;
  for (uint32_t ty = win.y / L.height; ty * L.height < y_end; ++ty) {
    const uint32_t r_begin = std::max(win.y, ty * L.height) - ty * L.height;
    const uint32_t r_end = std::min(y_end - ty * L.height, L.height);
    const std::byte* tile_row = s.bytes.data() + ty * row_of_tiles;
    std::byte* dst_rows = dst + (ty * L.height + r_begin - win.y) * dst_stride;
    for (uint32_t tx = x_begin / L.width_bytes; tx * L.width_bytes < x_end; ++tx) {
      const uint32_t tile_x = tx * L.width_bytes;
      const uint32_t begin = std::max(x_begin, tile_x) - tile_x;
      const uint32_t end = std::min(x_end - tile_x, L.width_bytes);
      const std::byte* tile = tile_row + uint64_t{tx} * kTileBytes;
      std::byte* d = dst_rows + (tile_x + begin - x_begin);
      if (begin == 0 && end == L.width_bytes) {
        // Fetch the next tile in memory (usually the next one copied) a few lines per row: the
        // hardware prefetchers do not follow the in-tile order of Y/Yf reads (+40 % for Y).
        const bool prefetch = static_cast<uint64_t>(tile - s.bytes.data()) + 2 * kTileBytes <= s.bytes.size();
        for (uint32_t r = r_begin; r < r_end; ++r, d += dst_stride) {
          if (prefetch) prefetch_lines<L>(tile + kTileBytes, r);
          copy_full_tile_row<L>(tile + L.row_offset[r], d);
        }
      } else {
        for (uint32_t r = r_begin; r < r_end; ++r, d += dst_stride)
          copy_partial_tile_row<L>(tile + L.row_offset[r], begin, end, d);
      }
    }
  }
}

using Detiler = void (*)(const TiledSurface&, const Window&, std::byte*, size_t);
struct LayoutDetiler {
  const TileLayout* layout;
  Detiler detile;
};
constexpr LayoutDetiler kDetilers[] = {
    {&kTileX, &detile_tiled<kTileX>},
    {&kTileY, &detile_tiled<kTileY>},
    {&kTileYf8, &detile_tiled<kTileYf8>},
    {&kTileYf16_32, &detile_tiled<kTileYf16_32>},
    {&kTileYf64_128, &detile_tiled<kTileYf64_128>},
};

Detiler detiler_for(const TileLayout* layout) {
  for (const auto& d : kDetilers)
    if (d.layout == layout) return d.detile;
  return nullptr;
}

}  // namespace

std::optional<std::string> check_window(const TiledSurface& s, const Window& win) {
  if (s.cpp == 0 || s.stride == 0) return fmt::format("bytes per pixel ({}) and stride ({}) must be non-zero", s.cpp, s.stride);
  if (win.width == 0 || win.height == 0) return std::string("empty window");
  const uint64_t row_end = (uint64_t{win.x} + win.width) * s.cpp;
  if (row_end > s.stride)
    return fmt::format("window x {} + width {} at {} B/px exceeds the stride of {} bytes", win.x, win.width, s.cpp,
                       s.stride);
  const uint64_t rows = uint64_t{win.y} + win.height;
  uint64_t needed = 0;
  if (s.tiling == hw::Tiling::Linear) {
    needed = (rows - 1) * s.stride + row_end;
  } else {
    const TileLayout* t = tile_layout(s.tiling, s.cpp);
    if (!t) return fmt::format("no tile layout for {} B/px", s.cpp);
    if (s.stride % t->width_bytes != 0)
      return fmt::format("stride {} is not a whole number of {}-byte tiles", s.stride, t->width_bytes);
    needed = (rows + t->height - 1) / t->height * (uint64_t{s.stride} / t->width_bytes) * kTileBytes;
  }
  if (needed > s.bytes.size())
    return fmt::format("window needs {} bytes of surface, only {} available", needed, s.bytes.size());
  return std::nullopt;
}

void detile_into(const TiledSurface& s, const Window& win, std::byte* dst, size_t dst_stride) {
  if (const Detiler tiled = detiler_for(tile_layout(s.tiling, s.cpp))) return tiled(s, win, dst, dst_stride);
  const size_t row_bytes = size_t{win.width} * s.cpp;
  const std::byte* src = s.bytes.data() + uint64_t{win.y} * s.stride + uint64_t{win.x} * s.cpp;
  for (uint32_t r = 0; r < win.height; ++r, src += s.stride, dst += dst_stride) std::memcpy(dst, src, row_bytes);
}

Expected<std::vector<std::byte>, std::string> detile(const TiledSurface& s, const Window& win) {
  if (auto err = check_window(s, win)) return Unexpected(std::move(*err));
  const size_t row_bytes = size_t{win.width} * s.cpp;
  std::vector<std::byte> out(row_bytes * win.height);
  detile_into(s, win, out.data(), row_bytes);
  return out;
}

}  // namespace vgd::fb
