// Strong types for the address spaces that meet in a vGPU. A GM address (GPU graphics memory,
// translated by the GGTT), a guest-physical address and an offset into a memfd are all 64-bit
// numbers; keeping them distinct types makes a mix-up a compile error instead of a wrong page.
// Header-only, no heap, no exceptions: the guest driver core uses it too.
#pragma once

#include <compare>
#include <cstdint>

namespace vgd {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kPageShift = 12;

constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
constexpr bool is_aligned(uint64_t v, uint64_t a) { return v % a == 0; }

// An address in one space. Offers only what addresses need: +/- a byte count, distance between
// two addresses of the same space, page arithmetic. No implicit conversion in or out.
template <class Tag>
class Address {
 public:
  constexpr Address() = default;
  constexpr explicit Address(uint64_t v) : v_(v) {}

  constexpr uint64_t value() const { return v_; }
  constexpr uint64_t page() const { return v_ >> kPageShift; }
  constexpr uint64_t offset_in_page() const { return v_ & (kPageSize - 1); }
  constexpr bool page_aligned() const { return offset_in_page() == 0; }
  static constexpr Address from_page(uint64_t page) { return Address(page << kPageShift); }

  constexpr Address operator+(uint64_t bytes) const { return Address(v_ + bytes); }
  constexpr Address operator-(uint64_t bytes) const { return Address(v_ - bytes); }
  constexpr Address& operator+=(uint64_t bytes) { v_ += bytes; return *this; }
  constexpr uint64_t operator-(Address other) const { return v_ - other.v_; }

  // Overflow-checked add: false when the result would wrap.
  constexpr bool checked_add(uint64_t bytes, Address& out) const {
    if (bytes > UINT64_MAX - v_) return false;
    out = Address(v_ + bytes);
    return true;
  }

  friend constexpr auto operator<=>(Address, Address) = default;
  friend constexpr bool operator==(Address, Address) = default;

 private:
  uint64_t v_ = 0;
};

struct GmaTag {};
struct GpaTag {};
struct MemfdOffsetTag {};
struct MmioOffsetTag {};

using Gma = Address<GmaTag>;                  // graphics memory address (GGTT space)
using Gpa = Address<GpaTag>;                  // guest-physical address
using MemfdOffset = Address<MemfdOffsetTag>;  // byte offset into a VM's RAM memfd
using MmioOffset = Address<MmioOffsetTag>;    // byte offset into BAR0

// A half-open range [begin, begin + size) in one address space.
template <class A>
struct Range {
  A begin{};
  uint64_t size = 0;

  constexpr A end() const { return begin + size; }
  constexpr bool contains(A a) const { return a >= begin && a - begin < size; }
  // Whole [a, a + len) inside, without overflow: len == 0 is never "inside".
  constexpr bool contains(A a, uint64_t len) const {
    return len != 0 && contains(a) && len <= size - (a - begin);
  }
  constexpr bool overlaps(const Range& o) const {
    return size != 0 && o.size != 0 && begin < o.end() && o.begin < end();
  }
  friend constexpr bool operator==(const Range&, const Range&) = default;
};

using GmRange = Range<Gma>;
using GpaRange = Range<Gpa>;

}  // namespace vgd
