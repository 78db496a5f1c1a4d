// Strong address types and the range allocator: the arithmetic every GM/GPA check rests on.
#include <gtest/gtest.h>

#include <cstdint>
#include <type_traits>
#include <vector>

#include "util/address.h"
#include "util/range_allocator.h"

namespace vgd {
namespace {

// --- Address spaces must not mix without an explicit conversion -----------------------------

template <class A, class B>
constexpr bool kMixes = std::is_convertible_v<A, B> || std::is_convertible_v<B, A>;

static_assert(!kMixes<Gma, Gpa>);
static_assert(!kMixes<Gma, MemfdOffset>);
static_assert(!kMixes<Gpa, MemfdOffset>);
static_assert(!kMixes<Gma, MmioOffset>);
static_assert(!kMixes<Gma, uint64_t>);
static_assert(!kMixes<Gpa, uint64_t>);
static_assert(!kMixes<MemfdOffset, uint64_t>);
// Explicit construction is the one way in.
static_assert(std::is_constructible_v<Gma, uint64_t>);
// Cross-space arithmetic and comparison do not compile; adding two addresses is meaningless.
template <class A, class B>
concept Subtractable = requires(A a, B b) { a - b; };
template <class A, class B>
concept Comparable = requires(A a, B b) { a < b; a == b; };
template <class A, class B>
concept Addable = requires(A a, B b) { a + b; };
static_assert(!Subtractable<Gma, Gpa> && Subtractable<Gma, Gma>);
static_assert(!Comparable<Gma, Gpa> && Comparable<Gma, Gma>);
static_assert(!Addable<Gma, Gma> && Addable<Gma, uint64_t>);
// Usable in constant expressions (the guest core relies on it).
static_assert(Gma(0x1000) + 0x234 == Gma(0x1234));
static_assert(Gma::from_page(3).value() == 0x3000);

TEST(Address, ByteArithmetic) {
  const Gma a(0x5234);
  EXPECT_EQ((a + 0x1000).value(), 0x6234u);
  EXPECT_EQ((a - 0x234).value(), 0x5000u);  // minus must really subtract
  Gma b = a;
  b += 0x10;
  EXPECT_EQ(b.value(), 0x5244u);
  EXPECT_EQ(Gma(0x9000) - Gma(0x5000), 0x4000u);
  EXPECT_LT(Gma(1), Gma(2));
}

TEST(Address, PageArithmetic) {
  const Gpa a(0x5234);
  EXPECT_EQ(a.page(), 5u);
  EXPECT_EQ(a.offset_in_page(), 0x234u);
  EXPECT_FALSE(a.page_aligned());
  EXPECT_TRUE(Gpa(0x5000).page_aligned());
  EXPECT_TRUE(Gpa(0).page_aligned());
  EXPECT_EQ(Gpa::from_page(a.page()), Gpa(0x5000));
  EXPECT_EQ(Gpa::from_page(0xFFFFF).value(), 0xFFFFF000u);  // last page of a 4 GiB space
}

TEST(Address, CheckedAddDetectsWrap) {
  const Gma near_top(UINT64_MAX - 10);
  Gma out(7);
  ASSERT_TRUE(near_top.checked_add(10, out));
  EXPECT_EQ(out.value(), UINT64_MAX);
  out = Gma(7);
  EXPECT_FALSE(near_top.checked_add(11, out));
  EXPECT_EQ(out, Gma(7)) << "a failed add must leave the output alone";
  EXPECT_FALSE(Gma(1).checked_add(UINT64_MAX, out));
  ASSERT_TRUE(Gma(0).checked_add(0, out));
  EXPECT_EQ(out, Gma(0));
}

// --- Range::contains / overlaps -------------------------------------------------------------

struct ContainsCase {
  const char* what;
  uint64_t addr, len;
  bool inside;
};

class RangeContains : public ::testing::TestWithParam<ContainsCase> {};

// The range under test is [0x1000, 0x3000).
TEST_P(RangeContains, WholeSpan) {
  const GmRange r{Gma(0x1000), 0x2000};
  const ContainsCase& c = GetParam();
  EXPECT_EQ(r.contains(Gma(c.addr), c.len), c.inside) << c.what;
}

INSTANTIATE_TEST_SUITE_P(
    Edges, RangeContains,
    ::testing::Values(ContainsCase{"zero length at begin", 0x1000, 0, false},
                      ContainsCase{"zero length in the middle", 0x2000, 0, false},
                      ContainsCase{"the whole range", 0x1000, 0x2000, true},
                      ContainsCase{"one byte at begin", 0x1000, 1, true},
                      ContainsCase{"last byte", 0x2FFF, 1, true},
                      ContainsCase{"ends exactly at end", 0x2000, 0x1000, true},
                      ContainsCase{"one byte past end", 0x2000, 0x1001, false},
                      ContainsCase{"starts at end", 0x3000, 1, false},
                      ContainsCase{"starts before begin", 0x0FFF, 2, false},
                      ContainsCase{"len UINT64_MAX", 0x2000, UINT64_MAX, false},
                      ContainsCase{"a + len wraps to 0", 0x2000, UINT64_MAX - 0x2000 + 1, false},
                      ContainsCase{"a + len wraps into the range", 0x2000, UINT64_MAX - 0x1000 + 1, false}),
    [](const auto& param_info) { return "case" + std::to_string(param_info.index); });

TEST(Range, SingleAddressIsHalfOpen) {
  const GmRange r{Gma(0x1000), 0x2000};
  EXPECT_FALSE(r.contains(Gma(0x0FFF)));
  EXPECT_TRUE(r.contains(Gma(0x1000)));
  EXPECT_TRUE(r.contains(Gma(0x2FFF)));
  EXPECT_FALSE(r.contains(Gma(0x3000)));
  EXPECT_FALSE((GmRange{Gma(0x1000), 0}).contains(Gma(0x1000))) << "an empty range holds nothing";
}

TEST(Range, TopOfSpaceDoesNotWrap) {
  const GmRange top{Gma(UINT64_MAX - 0xFFF), 0x1000};  // end() would wrap to 0
  EXPECT_TRUE(top.contains(Gma(UINT64_MAX)));
  EXPECT_TRUE(top.contains(Gma(UINT64_MAX - 0xFFF), 0x1000));
  EXPECT_FALSE(top.contains(Gma(UINT64_MAX), 2));
  EXPECT_FALSE(top.contains(Gma(0)));
}

TEST(Range, Overlaps) {
  const GmRange r{Gma(0x1000), 0x1000};
  EXPECT_TRUE(r.overlaps({Gma(0x1FFF), 0x10}));
  EXPECT_TRUE(r.overlaps({Gma(0x0000), 0x4000}));  // covering
  EXPECT_FALSE(r.overlaps({Gma(0x2000), 0x1000})) << "adjacent ranges share no byte";
  EXPECT_FALSE(r.overlaps({Gma(0x0000), 0x1000}));
  EXPECT_FALSE(r.overlaps({Gma(0x1800), 0})) << "an empty range overlaps nothing";
}

// --- RangeAllocator -------------------------------------------------------------------------

using Alloc = RangeAllocator<Gma, 4>;
constexpr GmRange kSpace{Gma(0x10000), 0x10000};  // [0x10000, 0x20000)

GmRange at(uint64_t begin, uint64_t size) { return {Gma(begin), size}; }

TEST(RangeAllocator, ReserveRejectsOverlapOutsideAndEmpty) {
  Alloc a(kSpace);
  ASSERT_EQ(a.reserve(at(0x14000, 0x2000)), PlaceStatus::Ok);
  EXPECT_EQ(a.reserve(at(0x13000, 0x1001)), PlaceStatus::Overlap);  // tail into it
  EXPECT_EQ(a.reserve(at(0x15FFF, 0x1000)), PlaceStatus::Overlap);  // head into it
  EXPECT_EQ(a.reserve(at(0x14800, 0x100)), PlaceStatus::Overlap);   // inside it
  EXPECT_EQ(a.reserve(at(0x10000, 0x8000)), PlaceStatus::Overlap);  // covering it
  EXPECT_EQ(a.reserve(at(0x0F000, 0x2000)), PlaceStatus::OutsideSpace);
  EXPECT_EQ(a.reserve(at(0x1F000, 0x2000)), PlaceStatus::OutsideSpace);
  EXPECT_EQ(a.reserve(at(0x30000, 0x1000)), PlaceStatus::OutsideSpace);
  EXPECT_EQ(a.reserve(at(0x11000, 0)), PlaceStatus::Invalid);
  // Touching neighbours are fine.
  EXPECT_EQ(a.reserve(at(0x13000, 0x1000)), PlaceStatus::Ok);
  EXPECT_EQ(a.reserve(at(0x16000, 0x1000)), PlaceStatus::Ok);
  EXPECT_EQ(a.used_bytes(), 0x4000u);
  const std::vector<GmRange> nodes(a.nodes().begin(), a.nodes().end());
  EXPECT_EQ(nodes, (std::vector<GmRange>{at(0x13000, 0x1000), at(0x14000, 0x2000), at(0x16000, 0x1000)}));
}

TEST(RangeAllocator, BottomUpTakesLowestFittingAlignedHole) {
  Alloc a(kSpace);
  ASSERT_EQ(a.reserve(at(0x10000, 0x1000)), PlaceStatus::Ok);
  ASSERT_EQ(a.reserve(at(0x13000, 0x1000)), PlaceStatus::Ok);
  GmRange out;
  ASSERT_EQ(a.allocate(0x2000, 0x1000, kSpace, false, out), PlaceStatus::Ok);
  EXPECT_EQ(out, at(0x11000, 0x2000));  // exactly fills the first hole
  // Hole [0x14000, 0x20000) but 0x8000 alignment pushes the start to 0x18000.
  ASSERT_EQ(a.allocate(0x1000, 0x8000, kSpace, false, out), PlaceStatus::Ok);
  EXPECT_EQ(out, at(0x18000, 0x1000));
}

TEST(RangeAllocator, TopDownTakesHighestFittingAlignedHole) {
  Alloc a(kSpace);
  ASSERT_EQ(a.reserve(at(0x1F000, 0x1000)), PlaceStatus::Ok);  // top page taken
  GmRange out;
  ASSERT_EQ(a.allocate(0x1000, 0x1000, kSpace, true, out), PlaceStatus::Ok);
  EXPECT_EQ(out, at(0x1E000, 0x1000));
  // Highest 0x4000-aligned start that leaves room for 0x1800 below 0x1E000 is 0x1C000.
  ASSERT_EQ(a.allocate(0x1800, 0x4000, kSpace, true, out), PlaceStatus::Ok);
  EXPECT_EQ(out, at(0x1C000, 0x1800));
}

TEST(RangeAllocator, AlignmentCanSkipAHoleThatIsBigEnoughUnaligned) {
  Alloc a(kSpace);
  ASSERT_EQ(a.reserve(at(0x10000, 0x1000)), PlaceStatus::Ok);
  ASSERT_EQ(a.reserve(at(0x13000, 0x1000)), PlaceStatus::Ok);  // hole [0x11000, 0x13000)
  GmRange out;
  ASSERT_EQ(a.allocate(0x1000, 0x4000, kSpace, false, out), PlaceStatus::Ok);
  EXPECT_EQ(out, at(0x14000, 0x1000));
}

TEST(RangeAllocator, StaysInsideTheWindow) {
  Alloc a(kSpace);
  const GmRange window = at(0x18000, 0x4000);
  GmRange out;
  ASSERT_EQ(a.allocate(0x1000, 0x1000, window, false, out), PlaceStatus::Ok);
  EXPECT_EQ(out.begin, Gma(0x18000));
  ASSERT_EQ(a.allocate(0x1000, 0x1000, window, true, out), PlaceStatus::Ok);
  EXPECT_EQ(out.end(), Gma(0x1C000));
  EXPECT_EQ(a.allocate(0x3000, 0x1000, window, false, out), PlaceStatus::NoSpace)
      << "free space outside the window must not be used";
  // A window reaching past the space is clipped to it.
  ASSERT_EQ(a.allocate(0x1000, 0x1000, at(0x1F000, 0x10000), true, out), PlaceStatus::Ok);
  EXPECT_EQ(out, at(0x1F000, 0x1000));
}

TEST(RangeAllocator, RefusesImpossibleRequests) {
  Alloc a(kSpace);
  GmRange out;
  EXPECT_EQ(a.allocate(0, 0x1000, kSpace, false, out), PlaceStatus::Invalid);
  EXPECT_EQ(a.allocate(0x1000, 0, kSpace, false, out), PlaceStatus::Invalid);
  EXPECT_EQ(a.allocate(0x10001, 1, kSpace, false, out), PlaceStatus::NoSpace);
  EXPECT_EQ(a.allocate(0x1000, 1, at(0x40000, 0x1000), false, out), PlaceStatus::NoSpace);
  EXPECT_EQ(a.used_bytes(), 0u);
}

TEST(RangeAllocator, ReleaseFreesForReuse) {
  Alloc a(kSpace);
  GmRange first, second, again;
  ASSERT_EQ(a.allocate(0x8000, 0x1000, kSpace, false, first), PlaceStatus::Ok);
  ASSERT_EQ(a.allocate(0x8000, 0x1000, kSpace, false, second), PlaceStatus::Ok);
  EXPECT_EQ(a.allocate(0x1000, 0x1000, kSpace, false, again), PlaceStatus::NoSpace);
  EXPECT_FALSE(a.release(first.begin + 0x1000)) << "only a node's start releases it";
  ASSERT_TRUE(a.release(first.begin));
  EXPECT_FALSE(a.release(first.begin)) << "double release";
  ASSERT_EQ(a.allocate(0x8000, 0x1000, kSpace, false, again), PlaceStatus::Ok);
  EXPECT_EQ(again, first);
  EXPECT_EQ(a.used_bytes(), 0x10000u);
}

TEST(RangeAllocator, TableFullAtCapacity) {
  Alloc a(kSpace);  // room for 4 nodes
  for (uint64_t i = 0; i < 4; ++i) ASSERT_EQ(a.reserve(at(0x10000 + i * 0x2000, 0x1000)), PlaceStatus::Ok);
  GmRange out;
  EXPECT_EQ(a.reserve(at(0x1F000, 0x1000)), PlaceStatus::TableFull);
  EXPECT_EQ(a.allocate(0x1000, 0x1000, kSpace, false, out), PlaceStatus::TableFull);
  EXPECT_EQ(a.nodes().size(), 4u);
  ASSERT_TRUE(a.release(Gma(0x10000)));
  EXPECT_EQ(a.reserve(at(0x1F000, 0x1000)), PlaceStatus::Ok);
}

TEST(RangeAllocator, LargestGap) {
  Alloc a(kSpace);
  EXPECT_EQ(a.largest_gap(kSpace), 0x10000u);
  ASSERT_EQ(a.reserve(at(0x12000, 0x1000)), PlaceStatus::Ok);
  ASSERT_EQ(a.reserve(at(0x18000, 0x1000)), PlaceStatus::Ok);
  // Gaps: [0x10000,0x12000) 0x2000, [0x13000,0x18000) 0x5000, [0x19000,0x20000) 0x7000.
  EXPECT_EQ(a.largest_gap(kSpace), 0x7000u);
  EXPECT_EQ(a.largest_gap(at(0x10000, 0x8000)), 0x5000u);
  EXPECT_EQ(a.largest_gap(at(0x1C000, 0x10000)), 0x4000u);  // clipped to the space
  EXPECT_EQ(a.largest_gap(at(0x12000, 0x1000)), 0u);        // fully taken
}

}  // namespace
}  // namespace vgd
