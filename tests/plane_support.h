// What the plane tests share: decode result types, register and GTT literals (docs/hardware.md) and
// the check that a decode failed for the reason expected.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

#include "decode/decoder.h"
#include "hw/display.h"
#include "support.h"

namespace vgd::test {

using decode::DecodeError;
using decode::PipeSnapshot;
using decode::PlaneInfo;
using Kind = DecodeError::Kind;
using Result = Expected<PlaneInfo, DecodeError>;

inline constexpr uint64_t kPage = 4096;
inline constexpr uint64_t kGtt = 8ull << 20;  // GTT entry 0 in BAR0
inline constexpr uint64_t kFrame0 = 0x100;    // first RAM frame the tests map
inline constexpr uint32_t kOn = 1u << 31;     // PLANE_CTL enable
constexpr uint64_t pte(uint64_t frame) { return frame << 12 | 1; }
constexpr uint32_t gm32(Gma a) { return static_cast<uint32_t>(a.value()); }  // as a surface register holds it

inline void expect_error(const Result& r, Kind kind, std::string_view needle) {
  ASSERT_FALSE(r.has_value()) << "decoded, expected an error containing \"" << needle << '"';
  EXPECT_EQ(r.error().kind, kind) << r.error().reason;
  EXPECT_NE(r.error().reason.find(needle), std::string::npos) << r.error().reason;
}

// A 64×64 XRGB8888 linear primary on pipe A (256-byte rows, 4 pages a surface): surface k is GM
// pages [4k, 4k + 4) of the vGPU's aperture, backed by RAM frames kFrame0 + 4k...
struct SmallPrimary {
  static constexpr uint32_t kW = 64, kH = 64;
  static constexpr uint64_t kPages = 4;

  static Gma gm(const Vgpu& v, uint64_t page) { return v.resources().aperture.begin + page * kPageSize; }
  static uint32_t surface(const Vgpu& v, uint64_t k) { return gm32(gm(v, k * kPages)); }
  static uint64_t reg(uint64_t r) { return hw::plane::reg(hw::Pipe::A, 1, r); }
  // Maps `surfaces` surfaces, lights pipe A at 64×64 and enables the primary with `ctl_extra`
  // (e.g. the async-flip bit) added to its control word; no surface flipped yet.
  static void light(Vgpu& v, uint64_t surfaces, uint32_t ctl_extra = 0) {
    const auto wr = [](Vgpu& g, uint64_t off, uint64_t val, unsigned size = 4) {
      EXPECT_EQ(g.write(MmioOffset(off), size, val), AccessStatus::Ok) << "write at " << std::hex << off;
    };
    for (uint64_t k = 0; k < surfaces * kPages; ++k)
      wr(v, kGtt + 8 * (gm(v, 0).page() + k), pte(kFrame0 + k), 8);
    wr(v, hw::pipe::kConf, kOn);
    wr(v, hw::trans::kPipeSrc, (kW - 1) << 16 | (kH - 1));
    wr(v, reg(hw::plane::kCtl), kOn | 4u << 24 | ctl_extra);  // 4: XRGB8888
    wr(v, reg(hw::plane::kStride), kW * 4 / 64);
  }
};

}  // namespace vgd::test
