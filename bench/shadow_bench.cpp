// Refilling a direct-flip shadow framebuffer (docs/direct-flip.md, Shadow framebuffers) from a
// 1920×1080 32 bpp guest primary: a whole linear copy, 5 % of the picture in damaged tiles, an
// X-tiled detile, conversions, and the composed, scaled fallback; beside memcpy of the same
// 1920·1080·4 bytes in the same run (BM_Baseline_Memcpy). Each row reports the bytes it wrote
// per refill (the "bytes" counter) and its time; bytes/s counts those bytes, so a damaged-tiles
// refill's rate compares with memcpy's and its time with a whole refill's. Buffers are
// page-aligned and touched before timing, rates use CPU time (see bench/fb_bench.cpp for why).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <span>

#include "decode/plane.h"
#include "fb/view.h"
#include "hostdisplay/shadow_refill.h"
#include "hw/formats.h"
#include "page_buffer.h"

using namespace vgd;
using namespace vgd::hostdisplay;

namespace {

namespace drm = hw::drm;
constexpr uint32_t kWidth = 1920, kHeight = 1080, kRowsAllocated = 1088;  // whole 32-row tiles
constexpr size_t kFrameBytes = size_t{kWidth} * kHeight * 4;

using bench::PageBuffer;

// A dumb buffer as the KMS backend maps one: linear, pitch = width · 4.
class ShadowBuffer : public Buffer {
 public:
  ShadowBuffer(uint32_t w, uint32_t h, uint32_t fourcc)
      : Buffer(BufferLayout{w, h, {fourcc, drm::kModLinear}, {w * 4}, {}}, 1), mem_(size_t{w} * h * 4) {}
  std::span<std::byte> pixels() override { return mem_.writable(); }

 private:
  PageBuffer mem_;
};

decode::PlaneInfo primary(uint32_t fourcc, hw::Tiling t, uint32_t w = kWidth, uint32_t h = kHeight) {
  decode::PlaneInfo p;
  p.fourcc = fourcc;
  p.tiling = t;
  p.cpp = fourcc == drm::kYUYV ? 2 : 4;
  p.width = w;
  p.height = h;
  p.stride = kWidth * 4;  // whole X tiles (and enough for YUYV)
  return p;
}

// 24 rectangles of 72 × 60 pixels scattered over the picture: 5.0 % of its pixels, more once
// rounded out to 32-pixel tiles (the "bytes" counter says how much).
Region five_percent() {
  Region r;
  std::mt19937 rng(12);
  for (int i = 0; i < 24; ++i)
    r.add({static_cast<uint32_t>(rng() % (kWidth - 72)), static_cast<uint32_t>(rng() % (kHeight - 60)), 72, 60});
  return r;
}

void BM_Baseline_Memcpy(benchmark::State& st) {
  const PageBuffer src(kFrameBytes), dst(kFrameBytes);
  for (auto _ : st) {
    std::memcpy(dst.data(), src.data(), kFrameBytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * kFrameBytes));
  st.counters["bytes"] = static_cast<double>(kFrameBytes);
}
BENCHMARK(BM_Baseline_Memcpy);

void BM_Refill(benchmark::State& st, uint32_t fourcc, hw::Tiling tiling, uint32_t shadow_fourcc, bool damaged) {
  const PageBuffer surface(size_t{kWidth} * 4 * kRowsAllocated);
  const auto view = fb::PlaneView::borrow(surface.span());
  const decode::PlaneInfo plane = primary(fourcc, tiling);
  ShadowBuffer dst(kWidth, kHeight, shadow_fourcc);
  const Region region = damaged ? five_percent() : Region::whole_picture();
  Refiller refiller;
  auto first = refiller.refill(plane, view, dst, region);  // sizes the refiller's scratch
  if (!first) return st.SkipWithError(first.error().c_str());
  for (auto _ : st) {
    auto r = refiller.refill(plane, view, dst, region);
    benchmark::DoNotOptimize(r);
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * first->bytes));
  st.counters["bytes"] = static_cast<double>(first->bytes);
  st.counters["rects"] = first->rects;
}
constexpr hw::Tiling kLinear = hw::Tiling::Linear, kX = hw::Tiling::X;
BENCHMARK_CAPTURE(BM_Refill, Full_Linear, drm::kXRGB8888, kLinear, drm::kXRGB8888, false);
BENCHMARK_CAPTURE(BM_Refill, Damage5_Linear, drm::kXRGB8888, kLinear, drm::kXRGB8888, true);
BENCHMARK_CAPTURE(BM_Refill, Full_XTiled_Detile, drm::kXRGB8888, kX, drm::kXRGB8888, false);
BENCHMARK_CAPTURE(BM_Refill, Damage5_XTiled_Detile, drm::kXRGB8888, kX, drm::kXRGB8888, true);
BENCHMARK_CAPTURE(BM_Refill, Full_Convert_XBGR_Linear, drm::kXBGR8888, kLinear, drm::kXRGB8888, false);
BENCHMARK_CAPTURE(BM_Refill, Full_Convert_XBGR_XTiled, drm::kXBGR8888, kX, drm::kXRGB8888, false);
BENCHMARK_CAPTURE(BM_Refill, Full_Convert_YUYV_XTiled, drm::kYUYV, kX, drm::kXRGB8888, false);

// The fallback: a 1280×720 guest composed and scaled (bilinear) to a 1920×1080 host mode.
void BM_ComposeScaled(benchmark::State& st) {
  const PageBuffer surface(size_t{kWidth} * 4 * kRowsAllocated);
  const auto view = fb::PlaneView::borrow(surface.span());
  const decode::PlaneInfo plane = primary(drm::kXRGB8888, kLinear, 1280, 720);
  ShadowBuffer dst(kWidth, kHeight, drm::kXRGB8888);
  ComposeSources src;
  src.primary = &plane;
  src.primary_view = &view;
  for (auto _ : st) {
    auto r = compose_scaled(src, dst);
    if (!r) return st.SkipWithError(r.error().c_str());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * kFrameBytes));
  st.counters["bytes"] = static_cast<double>(kFrameBytes);
}
BENCHMARK(BM_ComposeScaled);

}  // namespace

BENCHMARK_MAIN();
