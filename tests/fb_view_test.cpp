// CPU views of a plane's pages in guest RAM: the bytes in GM order, live, read-only, and
// keeping the VM's memory alive for as long as the view exists.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "fb/view.h"
#include "support.h"

namespace vgd::fb {
namespace {

constexpr uint64_t kRam = 1 << 20;

// RAM whose every 4-byte word holds its own memfd offset: any byte tells where it came from.
std::shared_ptr<GuestRam> numbered_ram() {
  auto ram = test::make_ram(kRam);
  auto bytes = ram->host_bytes(MemfdOffset(0), kRam);
  for (uint32_t off = 0; off < kRam; off += 4) std::memcpy(bytes.data() + off, &off, 4);
  return ram;
}

std::vector<MemfdOffset> pages_at(std::initializer_list<uint64_t> frames) {
  std::vector<MemfdOffset> out;
  for (uint64_t f : frames) out.push_back(MemfdOffset::from_page(f));
  return out;
}

// Every page of the view holds the RAM page the list names, in list order.
void expect_gathered(const PlaneView& v, const std::vector<MemfdOffset>& pages) {
  ASSERT_EQ(v.bytes().size(), pages.size() * kPageSize);
  for (size_t i = 0; i < pages.size(); ++i)
    for (uint32_t in_page = 0; in_page < kPageSize; in_page += 4) {
      uint32_t word;
      std::memcpy(&word, v.bytes().data() + i * kPageSize + in_page, 4);
      ASSERT_EQ(word, pages[i].value() + in_page) << "page " << i << " offset " << in_page;
    }
}

TEST(PlaneView, ContiguousPagesAreMappedZeroCopy) {
  const auto ram = numbered_ram();
  const auto pages = pages_at({16, 17, 18, 19, 20});
  auto v = PlaneView::map(ram, pages);
  ASSERT_TRUE(v) << v.error();
  EXPECT_TRUE(v->zero_copy());
  expect_gathered(*v, pages);
}

TEST(PlaneView, ShuffledPagesAreGatheredInListOrder) {
  const auto ram = numbered_ram();
  // Out of order, with a contiguous run (7, 8, 9) inside, and one page shown twice (the GGTT
  // may alias).
  const auto pages = pages_at({40, 3, 7, 8, 9, 255, 3, 0});
  auto v = PlaneView::map(ram, pages);
  ASSERT_TRUE(v) << v.error();
  EXPECT_FALSE(v->zero_copy());
  expect_gathered(*v, pages);
}

TEST(PlaneView, DescendingPagesAreNotContiguous) {
  const auto ram = numbered_ram();
  const auto pages = pages_at({5, 4});
  auto v = PlaneView::map(ram, pages);
  ASSERT_TRUE(v) << v.error();
  EXPECT_FALSE(v->zero_copy());
  expect_gathered(*v, pages);
}

TEST(PlaneView, ShowsGuestWritesMadeAfterMapping) {
  const auto ram = numbered_ram();
  auto flat = PlaneView::map(ram, pages_at({10, 11}));
  auto gathered = PlaneView::map(ram, pages_at({11, 10}));
  ASSERT_TRUE(flat && gathered);
  ram->host_bytes(MemfdOffset::from_page(11), kPageSize)[5] = std::byte{0xAB};
  EXPECT_EQ(flat->bytes()[kPageSize + 5], std::byte{0xAB});
  EXPECT_EQ(gathered->bytes()[5], std::byte{0xAB});
}

TEST(PlaneView, KeepsGuestRamAliveWhenItHoldsTheLastReference) {
  auto ram = numbered_ram();
  const std::weak_ptr<GuestRam> watch = ram;
  auto v = PlaneView::map(std::move(ram), pages_at({2, 1}));
  ASSERT_TRUE(v) << v.error();
  ram.reset();
  EXPECT_FALSE(watch.expired());
  expect_gathered(*v, pages_at({2, 1}));
  { auto gone = std::move(*v); }
  EXPECT_TRUE(watch.expired()) << "the view must not keep the RAM alive after it is gone";
}

TEST(PlaneView, ViewsAreReadOnly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto ram = numbered_ram();
  auto flat = PlaneView::map(ram, pages_at({1, 2}));
  auto gathered = PlaneView::map(ram, pages_at({2, 1}));
  ASSERT_TRUE(flat && gathered);
  EXPECT_DEATH(*const_cast<std::byte*>(flat->bytes().data()) = std::byte{1}, "");
  EXPECT_DEATH(*const_cast<std::byte*>(gathered->bytes().data() + kPageSize) = std::byte{1}, "");
}

TEST(PlaneView, RefusesPagesOutsideRamOrUnaligned) {
  const auto ram = numbered_ram();
  const auto fails = [&](std::vector<MemfdOffset> pages, const char* what) {
    auto v = PlaneView::map(ram, pages);
    ASSERT_FALSE(v) << what;
    EXPECT_FALSE(v.error().empty());
  };
  fails({}, "no pages");
  fails(pages_at({0, kRam / kPageSize}), "page just past the end of RAM");
  fails({MemfdOffset(0), MemfdOffset(kPageSize + 8)}, "unaligned page");
  fails(pages_at({~0ull >> 12}), "far outside");
  EXPECT_FALSE(PlaneView::map(nullptr, pages_at({0}))) << "no RAM";
}

TEST(PlaneView, BorrowedBytesAreShownAsTheyAreAndSurviveAMove) {
  std::vector<std::byte> bytes(2 * kPageSize, std::byte{7});
  PlaneView v = PlaneView::borrow(bytes);
  PlaneView moved = std::move(v);
  EXPECT_EQ(moved.bytes().data(), bytes.data());
  EXPECT_EQ(moved.bytes().size(), bytes.size());
  EXPECT_FALSE(moved.zero_copy());
}

}  // namespace
}  // namespace vgd::fb
