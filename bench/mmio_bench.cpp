// Cost of a trapped access through the MMIO entry point, next to a plain array store (what the
// access would cost if it were not trapped) measured in the same run. The KVM exit itself is not
// included here: this is the device-model share of a trap.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <array>
#include <memory>

#include "hw/bar.h"
#include "hw/pvinfo.h"
#include "vgpu/gpu.h"

using namespace vgd;

namespace {

struct Rig {
  std::unique_ptr<Gpu> gpu;
  Vgpu* v = nullptr;
  Rig() {
    spdlog::set_level(spdlog::level::off);
    gpu = std::move(*Gpu::create({}));
    v = *gpu->create_vgpu("GVTg_V5_8", *GuestRam::create(64 * kMiB, "bench"));
  }
};
Rig& rig() {
  static Rig r;
  return r;
}

constexpr uint64_t kPlainReg = 0x70188;  // a display register with no side effects yet
constexpr uint64_t kMask = 1023;

void BM_Baseline_ArrayStore(benchmark::State& st) {
  static std::array<uint32_t, kMask + 1> regs{};
  uint32_t i = 0;
  for (auto _ : st) {
    regs[i & kMask] = i;
    benchmark::ClobberMemory();
    ++i;
  }
}
BENCHMARK(BM_Baseline_ArrayStore);

void BM_Trap_RegisterWrite(benchmark::State& st) {
  Vgpu& v = *rig().v;
  uint32_t i = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(v.write(MmioOffset(kPlainReg + (i & 0xF) * 4), 4, i));
    ++i;
  }
}
BENCHMARK(BM_Trap_RegisterWrite);

void BM_Trap_RegisterRead(benchmark::State& st) {
  Vgpu& v = *rig().v;
  uint64_t val = 0;
  uint32_t i = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(v.read(MmioOffset(kPlainReg + (i++ & 0xF) * 4), 4, val));  // i read once
    benchmark::DoNotOptimize(val);
  }
}
BENCHMARK(BM_Trap_RegisterRead);

void BM_Trap_PvinfoRead(benchmark::State& st) {
  Vgpu& v = *rig().v;
  uint64_t val = 0;
  for (auto _ : st) {
    benchmark::DoNotOptimize(v.read(MmioOffset(hw::kPvinfoOffset + hw::pv::kMappableBase), 4, val));
    benchmark::DoNotOptimize(val);
  }
}
BENCHMARK(BM_Trap_PvinfoRead);

// A valid 8-byte PTE write into the vGPU's aperture slice, walking its pages.
void BM_Trap_GgttPteWrite(benchmark::State& st) {
  Vgpu& v = *rig().v;
  const uint64_t first = v.resources().aperture.begin.page();
  const uint64_t pages = v.resources().aperture.size / kPageSize;
  uint64_t i = 0;
  for (auto _ : st) {
    const uint64_t p = i++ % pages;
    benchmark::DoNotOptimize(v.write(hw::gtt_entry_offset(first + p), 8, hw::pte::make(p % 16384)));
  }
}
BENCHMARK(BM_Trap_GgttPteWrite);

// A foreign PTE write: refused and counted (log rate-limited), the malicious path.
void BM_Trap_GgttPteWriteForeign(benchmark::State& st) {
  Vgpu& v = *rig().v;
  uint64_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(v.write(hw::gtt_entry_offset(i++ % 1024), 8, hw::pte::make(1)));
}
BENCHMARK(BM_Trap_GgttPteWriteForeign);

}  // namespace

BENCHMARK_MAIN();
