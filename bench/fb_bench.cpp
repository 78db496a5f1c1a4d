// Detiling and pixel conversion of a full 1920×1080 surface, next to memcpy of the same
// 1920·1080·4 bytes in the same run (BM_Baseline_Memcpy): detiling is a gather of 16- or
// 512-byte runs and should stay close to memcpy; conversion does per-pixel arithmetic on top.
// Bytes/s is counted on the 32-bit output for every benchmark, so the rates compare directly.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "fb/convert.h"
#include "fb/detile.h"
#include "hw/formats.h"

using namespace vgd;
using namespace vgd::fb;

namespace {

constexpr uint32_t kWidth = 1920, kHeight = 1080;
constexpr size_t kOutBytes = size_t{kWidth} * kHeight * 4;
constexpr uint32_t kRowsAllocated = 1088;  // whole 32-row tiles

std::vector<std::byte> patterned(size_t n) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::byte{static_cast<uint8_t>(i * 131 + (i >> 12))};
  return v;
}

void finish(benchmark::State& st) { st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * kOutBytes)); }

void BM_Baseline_Memcpy(benchmark::State& st) {
  const auto src = patterned(kOutBytes);
  std::vector<std::byte> dst(kOutBytes);
  for (auto _ : st) {
    std::memcpy(dst.data(), src.data(), kOutBytes);
    benchmark::ClobberMemory();
  }
  finish(st);
}
BENCHMARK(BM_Baseline_Memcpy);

void BM_Detile(benchmark::State& st, hw::Tiling tiling) {
  const uint32_t stride = kWidth * 4;  // 7680: whole X, Y and Yf tiles
  const auto src = patterned(size_t{stride} * kRowsAllocated);
  std::vector<std::byte> dst(kOutBytes);
  const TiledSurface s{src, tiling, 4, stride};
  const Window win{0, 0, kWidth, kHeight};
  if (auto err = check_window(s, win)) return st.SkipWithError(err->c_str());
  for (auto _ : st) {
    detile_into(s, win, dst.data(), stride);
    benchmark::ClobberMemory();
  }
  finish(st);
}
BENCHMARK_CAPTURE(BM_Detile, X, hw::Tiling::X);
BENCHMARK_CAPTURE(BM_Detile, Y, hw::Tiling::Y);
BENCHMARK_CAPTURE(BM_Detile, Yf, hw::Tiling::Yf);

void BM_Convert(benchmark::State& st, uint32_t fourcc) {
  const uint32_t stride = kWidth * format_cpp(fourcc);
  const auto src = patterned(size_t{stride} * kHeight);
  std::vector<uint32_t> dst(size_t{kWidth} * kHeight);
  const RowConverter convert = row_converter(fourcc, Output::Xrgb);
  for (auto _ : st) {
    for (uint32_t r = 0; r < kHeight; ++r) convert(src.data() + size_t{r} * stride, 0, kWidth, dst.data() + size_t{r} * kWidth);
    benchmark::ClobberMemory();
  }
  finish(st);
}
namespace drm = hw::drm;
BENCHMARK_CAPTURE(BM_Convert, XRGB8888, drm::kXRGB8888);
BENCHMARK_CAPTURE(BM_Convert, ARGB8888, drm::kARGB8888);
BENCHMARK_CAPTURE(BM_Convert, XBGR8888, drm::kXBGR8888);
BENCHMARK_CAPTURE(BM_Convert, ABGR8888, drm::kABGR8888);
BENCHMARK_CAPTURE(BM_Convert, XRGB2101010, drm::kXRGB2101010);
BENCHMARK_CAPTURE(BM_Convert, XBGR2101010, drm::kXBGR2101010);
BENCHMARK_CAPTURE(BM_Convert, RGB565, drm::kRGB565);
BENCHMARK_CAPTURE(BM_Convert, C8, drm::kC8);
BENCHMARK_CAPTURE(BM_Convert, YUYV, drm::kYUYV);
BENCHMARK_CAPTURE(BM_Convert, UYVY, drm::kUYVY);
BENCHMARK_CAPTURE(BM_Convert, YVYU, drm::kYVYU);
BENCHMARK_CAPTURE(BM_Convert, VYUY, drm::kVYUY);

}  // namespace

BENCHMARK_MAIN();
