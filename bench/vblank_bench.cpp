// Cost of one vblank tick dispatched by the clock in virtual time (heap pop, re-key, the
// std::function call) with 1, 64 and 1024 vGPU timers, next to calling the same std::function
// directly: the difference is what the shared clock adds per vblank. "per_tick" is comparable
// across rows; with n timers one iteration is one period, i.e. n ticks.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>

#include "display/vblank_clock.h"

using namespace vgd::display;

namespace {

constexpr uint64_t kPeriod = 16'666'667;  // 60 Hz

std::function<void()> counting(uint64_t& count) {
  return [&count] { benchmark::DoNotOptimize(++count); };
}

void report(benchmark::State& st, uint64_t ticks) {
  st.counters["per_tick"] = benchmark::Counter(static_cast<double>(ticks), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_Baseline_DirectCall(benchmark::State& st) {
  uint64_t count = 0;
  const std::function<void()> f = counting(count);
  for (auto _ : st) f();
  report(st, count);
}
BENCHMARK(BM_Baseline_DirectCall);

void BM_VirtualClock_Tick(benchmark::State& st) {
  const auto n = static_cast<uint64_t>(st.range(0));
  uint64_t count = 0;
  VirtualClock clock;
  // Phases spread over the period, as vGPUs enabled at different moments: one tick per deadline.
  for (uint64_t i = 0; i < n; ++i) {
    clock.start(clock.add(counting(count)), kPeriod);
    clock.advance_by(kPeriod / n);
  }
  count = 0;
  for (auto _ : st) clock.advance_by(kPeriod);
  report(st, count);
}
BENCHMARK(BM_VirtualClock_Tick)->Arg(1)->Arg(64)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
