// A hostile guest: the fuzzer's bytes become a stream of MMIO reads and writes by vGPU A.
// After the stream, nothing outside A may have changed: vGPU B's GGTT entries and fences, the
// host's fences, A's own slice description, and every page A maps stays inside A's RAM.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "fuzz_check.h"
#include "hw/bar.h"
#include "hw/blocks.h"
#include "hw/pvinfo.h"
#include "vgpu/gpu.h"

using namespace vgd;

namespace {

struct Op {
  uint8_t kind;
  uint8_t size;
  uint16_t pad;
  uint32_t offset;
  uint64_t value;
};

// Steer offsets toward the interesting blocks so the fuzzer need not find them by chance.
uint64_t aim(const Op& op, const Vgpu& a, const Vgpu& b, uint64_t bar) {
  const uint64_t o = op.offset;
  switch ((op.kind >> 1) % 6) {
    case 0: return hw::kPvinfoOffset + o % hw::kPvinfoSize;
    case 1: return hw::kFenceBase + o % 0x200;
    case 2: return hw::gtt_entry_offset(a.resources().aperture.begin.page()).value() + o % 0x2000;
    case 3: return hw::gtt_entry_offset(b.resources().hidden.begin.page()).value() + o % 0x2000;
    case 4: return hw::kDisplayWindow.base + o % hw::kDisplayWindow.size;
    default: return o % (bar + 64);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  static bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  GpuConfig cfg;
  cfg.types.push_back(VgpuType{"tiny", {16 * kMiB, 32 * kMiB, 2}, 1, 640, 480});
  auto gpu = Gpu::create(cfg);
  CHECK(gpu.has_value());
  auto ram_a = GuestRam::create(1 * kMiB, "a"), ram_b = GuestRam::create(1 * kMiB, "b");
  CHECK(ram_a && ram_b);
  Vgpu& a = **(*gpu)->create_vgpu("tiny", *ram_a);
  Vgpu& b = **(*gpu)->create_vgpu("tiny", *ram_b);

  // B maps its first hidden page and programs a fence; A must not be able to disturb either.
  const uint64_t b_pte = hw::pte::make(3);
  CHECK(b.write(hw::gtt_entry_offset(b.resources().hidden.begin.page()), 8, b_pte) == AccessStatus::Ok);
  CHECK(b.write(MmioOffset(hw::kFenceBase), 8, 0xB0B0) == AccessStatus::Ok);
  const VgpuResources a_res = a.resources();
  const uint64_t bar = hw::bar0_size(cfg.geometry.ggtt_size);

  for (size_t i = 0; i + sizeof(Op) <= len; i += sizeof(Op)) {
    Op op;
    std::memcpy(&op, data + i, sizeof op);
    const MmioOffset off(aim(op, a, b, bar));
    const unsigned size = op.size % 10;  // includes invalid sizes on purpose
    uint64_t v = 0;
    if (op.kind & 1)
      (void)a.write(off, size, op.value);
    else
      (void)a.read(off, size, v);
    if (a.failsafe() && (op.kind & 0x80)) a.reset();
  }

  CHECK(b.ggtt().guest_pte(b.resources().hidden.begin.page()) == b_pte);
  CHECK(b.ggtt().translate(b.resources().hidden.begin)->offset == MemfdOffset(3 * kPageSize));
  CHECK(b.counters().refused() == 0 && b.mmio_stats().refused() == 0 && !b.failsafe());
  CHECK((*gpu)->host_fence(b.resources().fences[0]) == 0xB0B0);
  for (uint32_t f = 0; f < cfg.geometry.fence_count; ++f) {
    bool owned = false;
    for (uint32_t x : a_res.fences) owned |= x == f;
    if (!owned && f != b.resources().fences[0]) CHECK((*gpu)->host_fence(f) == 0);
  }
  // A's slices as the host knows them never change, whatever A wrote into PVINFO.
  CHECK(a.resources().aperture == a_res.aperture && a.resources().hidden == a_res.hidden);
  uint64_t base = 0;
  CHECK(a.read(MmioOffset(hw::kPvinfoOffset + hw::pv::kMappableBase), 4, base) == AccessStatus::Ok);
  CHECK(base == a_res.aperture.begin.value());
  for (const GmRange& r : {a_res.aperture, a_res.hidden})
    for (uint64_t p = 0; p < r.size / kPageSize; p += 1) {
      auto hp = a.ggtt().translate(r.begin + p * kPageSize);
      CHECK(hp.has_value());
      if (!hp->scratch) CHECK(hp->offset.value() + kPageSize <= a.ram().size());
    }
  return 0;
}
