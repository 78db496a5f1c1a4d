// Register bit fields declared once, as constexpr values: shift, width, mask, extract, deposit.
// Device and guest code use these instead of raw shifts (cf. QEMU's registerfields.h).
#pragma once

#include <cstdint>

namespace vgd::hw {

template <class T = uint32_t>
struct Field {
  unsigned shift;
  unsigned width;

  constexpr T mask() const { return static_cast<T>(((width >= sizeof(T) * 8) ? ~T{0} : ((T{1} << width) - 1)) << shift); }
  constexpr T get(T reg) const { return static_cast<T>((reg & mask()) >> shift); }
  constexpr T set(T reg, T v) const { return static_cast<T>((reg & ~mask()) | ((v << shift) & mask())); }
  constexpr bool fits(T v) const { return (v & ~(mask() >> shift)) == 0; }
};

template <class T = uint32_t>
constexpr Field<T> bit(unsigned n) { return Field<T>{n, 1}; }

}  // namespace vgd::hw
