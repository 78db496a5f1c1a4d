// Cost of one decode_plane() call — what every plane query and refresh pays — for a 1080p
// X-tiled XRGB8888 primary (2025 pages) and a 64×64 cursor (4 pages). Baselines in the same run:
// the 2025 GGTT translations the primary decode cannot avoid, and copying a ready page list
// (what a cached export would cost instead).
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <vector>

#include "decode/decoder.h"
#include "hw/bar.h"
#include "vgpu/gpu.h"

using namespace vgd;

namespace {

constexpr uint64_t kPages = 2025;  // 7680 B × 1080 rows / 4 KiB

struct Rig {
  std::unique_ptr<Gpu> gpu;
  Vgpu* v = nullptr;
  decode::PipeSnapshot s;
  Rig() {
    spdlog::set_level(spdlog::level::off);
    gpu = std::move(*Gpu::create({}));
    v = *gpu->create_vgpu("GVTg_V5_8", *GuestRam::create(64 * kMiB, "bench"));
    const Gma base = v->resources().aperture.begin;
    for (uint64_t k = 0; k < kPages + 4; ++k)  // primary, then the cursor right after it
      v->write(hw::gtt_entry_offset(base.page() + k), 8, hw::pte::make(0x100 + k));
    s.pipeconf = 0xC0000000;                                     // enabled + active
    s.pipesrc = 1919u << 16 | 1079u;                             // 1920×1080
    s.primary.ctl = 1u << 31 | 4u << 24 | 1u << 10;              // XRGB8888, X-tiled
    s.primary.stride = 15;                                       // × 512 B = 7680 B
    s.primary.surflive = static_cast<uint32_t>(base.value());
    s.curcntr = 0x27;                                            // 64×64 ARGB
    s.cursurflive = static_cast<uint32_t>((base + kPages * kPageSize).value());
  }
};
Rig& rig() {
  static Rig r;
  return r;
}

void decode_bench(benchmark::State& st, hw::Plane plane) {
  Rig& r = rig();
  size_t pages = 0;
  for (auto _ : st) {
    auto info = decode::decode_plane(r.s, plane, r.v->ggtt());
    if (!info) return st.SkipWithError(info.error().reason.c_str());
    pages = info->pages.size();
    benchmark::DoNotOptimize(info);
  }
  st.counters["pages"] = static_cast<double>(pages);
  st.counters["ns/page"] = benchmark::Counter(static_cast<double>(pages * st.iterations()),
                                              benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK_CAPTURE(decode_bench, Primary1080pXTiled, hw::Plane::Primary)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(decode_bench, Cursor64, hw::Plane::Cursor)->Unit(benchmark::kMicrosecond);

void BM_Baseline_Translate2025(benchmark::State& st) {
  Rig& r = rig();
  const Gma base = r.v->resources().aperture.begin;
  for (auto _ : st) {
    std::vector<MemfdOffset> pages;
    pages.reserve(kPages);
    for (uint64_t k = 0; k < kPages; ++k) pages.push_back(r.v->ggtt().translate(base + k * kPageSize)->offset);
    benchmark::DoNotOptimize(pages.data());
  }
}
BENCHMARK(BM_Baseline_Translate2025)->Unit(benchmark::kMicrosecond);

void BM_Baseline_CopyPageList2025(benchmark::State& st) {
  const std::vector<MemfdOffset> ready(kPages, MemfdOffset(0x100000));
  for (auto _ : st) {
    std::vector<MemfdOffset> copy = ready;
    benchmark::DoNotOptimize(copy.data());
  }
}
BENCHMARK(BM_Baseline_CopyPageList2025)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
