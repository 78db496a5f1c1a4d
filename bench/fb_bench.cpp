// Detiling and pixel conversion of a full 1920×1080 32 bpp picture, and tearing control's shadow
// copy of such a primary (ShadowFrames::capture, what "copy" costs the device lock per frame:
// docs/design.md, "Tearing control"), beside memcpy of the same 1920·1080·4 bytes in the same run
// (BM_Baseline_Memcpy); the figure to report is each rate over memcpy's (bench/summarize.py
// prints it). To keep that ratio honest:
// - bytes/s counts the 32-bit output of every benchmark, so all rates compare with memcpy's
//   directly; the label says how many source bytes per pixel each one reads (2 for YUV 4:2:2,
//   1 for C8: those read less than memcpy does);
// - every buffer is page-aligned and touched before timing, as a mapped plane is (malloc'd
//   vectors start 16 bytes into a page, which favoured some loops over others);
// - rates use the thread's CPU time (Google Benchmark's default, and what summarize.py reads):
//   on a 2-core machine shared with builds, wall-clock time also counts time spent preempted;
// - run with repetitions and --benchmark_enable_random_interleaving (bench/run does) so that a
//   busy neighbour slows the baseline as much as the rest.
// Everything fits in this machine's caches after the first iteration, for memcpy as for the rest.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "decode/decoder.h"
#include "exporter/tearing.h"
#include "fb/convert.h"
#include "fb/detile.h"
#include "hw/bar.h"
#include "hw/formats.h"
#include "page_buffer.h"
#include "vgpu/gpu.h"

using namespace vgd;
using namespace vgd::fb;

namespace {

constexpr uint32_t kWidth = 1920, kHeight = 1080;
constexpr size_t kOutBytes = size_t{kWidth} * kHeight * 4;
constexpr uint32_t kRowsAllocated = 1088;  // whole 32-row tiles

using Buffer = bench::PageBuffer;

void finish(benchmark::State& st, uint32_t src_bytes_per_px) {
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * kOutBytes));
  st.SetLabel("reads " + std::to_string(src_bytes_per_px) + " B/px");
}

void BM_Baseline_Memcpy(benchmark::State& st) {
  const Buffer src(kOutBytes), dst(kOutBytes);
  for (auto _ : st) {
    std::memcpy(dst.data(), src.data(), kOutBytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  finish(st, 4);
}
BENCHMARK(BM_Baseline_Memcpy);

void BM_Detile(benchmark::State& st, hw::Tiling tiling) {
  const uint32_t stride = kWidth * 4;  // 7680: whole X, Y and Yf tiles
  const Buffer src(size_t{stride} * kRowsAllocated), dst(kOutBytes);
  const TiledSurface s{src.span(), tiling, 4, stride};
  const Window win{0, 0, kWidth, kHeight};
  if (auto err = check_window(s, win)) return st.SkipWithError(err->c_str());
  for (auto _ : st) {
    detile_into(s, win, dst.data(), stride);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  finish(st, 4);
}
BENCHMARK_CAPTURE(BM_Detile, Linear, hw::Tiling::Linear);  // row memcpys: should read ~1.0
BENCHMARK_CAPTURE(BM_Detile, X, hw::Tiling::X);
BENCHMARK_CAPTURE(BM_Detile, Y, hw::Tiling::Y);
BENCHMARK_CAPTURE(BM_Detile, Yf, hw::Tiling::Yf);

void BM_Convert(benchmark::State& st, uint32_t fourcc, Output out) {
  const uint32_t stride = kWidth * format_cpp(fourcc);
  const Buffer src(size_t{stride} * kHeight), dst(kOutBytes);
  auto* px = reinterpret_cast<uint32_t*>(dst.data());
  const RowConverter convert = row_converter(fourcc, out);
  if (!convert) return st.SkipWithError("no converter");
  for (auto _ : st) {
    for (uint32_t r = 0; r < kHeight; ++r) convert(src.data() + size_t{r} * stride, 0, kWidth, px + size_t{r} * kWidth);
    benchmark::DoNotOptimize(px);
    benchmark::ClobberMemory();
  }
  finish(st, format_cpp(fourcc));
}
namespace drm = hw::drm;
constexpr Output kX = Output::Xrgb;
BENCHMARK_CAPTURE(BM_Convert, XRGB8888, drm::kXRGB8888, kX);
BENCHMARK_CAPTURE(BM_Convert, ARGB8888, drm::kARGB8888, kX);
BENCHMARK_CAPTURE(BM_Convert, XBGR8888, drm::kXBGR8888, kX);
BENCHMARK_CAPTURE(BM_Convert, ABGR8888, drm::kABGR8888, kX);
BENCHMARK_CAPTURE(BM_Convert, XRGB2101010, drm::kXRGB2101010, kX);
BENCHMARK_CAPTURE(BM_Convert, XBGR2101010, drm::kXBGR2101010, kX);
BENCHMARK_CAPTURE(BM_Convert, RGB565, drm::kRGB565, kX);
BENCHMARK_CAPTURE(BM_Convert, C8, drm::kC8, kX);
BENCHMARK_CAPTURE(BM_Convert, YUYV, drm::kYUYV, kX);
BENCHMARK_CAPTURE(BM_Convert, UYVY, drm::kUYVY, kX);
BENCHMARK_CAPTURE(BM_Convert, YVYU, drm::kYVYU, kX);
BENCHMARK_CAPTURE(BM_Convert, VYUY, drm::kVYUY, kX);
// render_plane() (composition, screenshots) asks for ARGB: the same loops, alpha kept.
BENCHMARK_CAPTURE(BM_Convert, YUYV_Argb, drm::kYUYV, Output::Argb);

// A vGPU showing a linear 1920×1080 XRGB8888 primary (whole pages: 7680 B × 1080 rows is 2025
// of them), copied into the shadow no consumer holds at each iteration, as at a flip's vblank.
void BM_ShadowCopy(benchmark::State& st) {
  spdlog::set_level(spdlog::level::off);
  auto gpu = Gpu::create({});
  if (!gpu) return st.SkipWithError(gpu.error().c_str());
  auto ram = GuestRam::create(64 * kMiB, "bench");
  if (!ram) return st.SkipWithError(ram.error().c_str());
  auto v = (*gpu)->create_vgpu("GVTg_V5_8", *ram);
  if (!v) return st.SkipWithError(v.error().message.c_str());
  const Gma base = (*v)->resources().aperture.begin;
  constexpr uint64_t kPages = kOutBytes / kPageSize, kFirstFrame = 0x100;
  for (uint64_t k = 0; k < kPages; ++k) (*v)->write(hw::gtt_entry_offset(base.page() + k), 8, hw::pte::make(kFirstFrame + k));
  const std::span<std::byte> pixels = (*ram)->host_bytes(MemfdOffset::from_page(kFirstFrame), kOutBytes);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::byte{static_cast<uint8_t>(i * 131 + (i >> 12))};
  decode::PipeSnapshot s;
  s.pipeconf = 0xC0000000;                         // enabled + active
  s.pipesrc = (kWidth - 1) << 16 | (kHeight - 1);  // 1920×1080
  s.primary.ctl = 1u << 31 | 4u << 24;             // XRGB8888, linear
  s.primary.stride = kWidth * 4 / 64;              // × 64 B
  s.primary.surflive = static_cast<uint32_t>(base.value());
  const auto plane = decode::decode_plane(s, hw::Plane::Primary, (*v)->ggtt());
  if (!plane) return st.SkipWithError(plane.error().reason.c_str());
  exporter::ShadowFrames shadows((*v)->ram_ref(), (*v)->type());
  // Each shadow's first copy also creates its memfd and faults its pages in: not timed.
  if (!shadows.capture(*plane) || !shadows.capture(*plane)) return st.SkipWithError("no shadow");
  for (auto _ : st)
    if (!shadows.capture(*plane)) return st.SkipWithError("copy skipped");
  finish(st, 4);
}
BENCHMARK(BM_ShadowCopy);

}  // namespace

BENCHMARK_MAIN();
