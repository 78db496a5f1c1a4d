// What the plane tests share: decode result types, register and GTT literals (reference §3) and
// the check that a decode failed for the reason expected.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

#include "decode/decoder.h"

namespace vgd::test {

using decode::DecodeError;
using decode::PipeSnapshot;
using decode::PlaneInfo;
using Kind = DecodeError::Kind;
using Result = Expected<PlaneInfo, DecodeError>;

inline constexpr uint64_t kPage = 4096;
inline constexpr uint64_t kGtt = 8ull << 20;  // GTT entry 0 in BAR0 (§2.1)
inline constexpr uint64_t kFrame0 = 0x100;    // first RAM frame the tests map
inline constexpr uint32_t kOn = 1u << 31;     // PLANE_CTL enable
constexpr uint64_t pte(uint64_t frame) { return frame << 12 | 1; }
constexpr uint32_t gm32(Gma a) { return static_cast<uint32_t>(a.value()); }  // as a surface register holds it

inline void expect_error(const Result& r, Kind kind, std::string_view needle) {
  ASSERT_FALSE(r.has_value()) << "decoded, expected an error containing \"" << needle << '"';
  EXPECT_EQ(r.error().kind, kind) << r.error().reason;
  EXPECT_NE(r.error().reason.find(needle), std::string::npos) << r.error().reason;
}

}  // namespace vgd::test
