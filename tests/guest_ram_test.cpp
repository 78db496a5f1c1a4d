// A VM's RAM from its transport's sections (docs/design.md "Guest RAM"): the region map, address
// translation around holes, refusal of every map we could not serve safely, and no descriptor
// kept beyond the one the mapping needs.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "memory/guest_ram.h"
#include "ram_support.h"

namespace vgd {
namespace {

using test::page_mark;
using test::VmMemfd;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kRam = 16 * kMiB;

std::shared_ptr<GuestRam> ram_of(std::vector<RamSection> s) {
  auto r = GuestRam::from_sections(std::move(s));
  EXPECT_TRUE(r) << r.error();
  return r ? *r : nullptr;
}

// The byte at guest-physical gpa, read through the host mapping; -1 when gpa is not RAM.
int guest_byte(const GuestRam& ram, uint64_t gpa) {
  const auto off = ram.offset_of(Gpa(gpa), 1);
  return off ? static_cast<int>(ram.host_bytes(*off, 1)[0]) : -1;
}

TEST(GuestRam, CreateMapsGuestPhysicalFlatOntoItsMemfd) {
  auto ram = *GuestRam::create(kRam, "flat");
  ASSERT_EQ(ram->regions().size(), 1u);
  EXPECT_EQ(ram->regions()[0], (RamRegion{GpaRange{Gpa(0), kRam}, MemfdOffset(0)}));
  EXPECT_EQ(ram->offset_of(Gpa(0x123000), kPageSize), MemfdOffset(0x123000));
  EXPECT_FALSE(ram->offset_of(Gpa(kRam - kPageSize), 2 * kPageSize)) << "runs past the end";
  EXPECT_TRUE(ram->has_frame(kRam / kPageSize - 1));
  EXPECT_FALSE(ram->has_frame(kRam / kPageSize));
}

TEST(GuestRam, TwoSectionsOfOneMemfdLeaveTheHoleBetweenThem) {
  const VmMemfd vm(kRam);
  auto ram = ram_of(vm.boot_sections());
  ASSERT_TRUE(ram);
  ASSERT_EQ(ram->regions().size(), 2u);
  EXPECT_EQ(ram->size(), kRam) << "the whole file is mapped";
  EXPECT_EQ(guest_byte(*ram, 0), page_mark(0));
  EXPECT_EQ(guest_byte(*ram, 0xbf000), page_mark(0xbf));
  EXPECT_EQ(guest_byte(*ram, 0xc0000), -1) << "the VGA/BIOS hole is not RAM";
  EXPECT_EQ(guest_byte(*ram, 0xff000), -1);
  EXPECT_EQ(guest_byte(*ram, 0x100000), page_mark(0x100));
  EXPECT_EQ(guest_byte(*ram, kRam - kPageSize), page_mark(kRam / kPageSize - 1));
  EXPECT_EQ(guest_byte(*ram, kRam), -1);
  EXPECT_FALSE(ram->offset_of(Gpa(0xbf000), 2 * kPageSize)) << "a range running into the hole";
  EXPECT_FALSE(ram->has_frame(0xc0));
  EXPECT_TRUE(ram->has_frame(0x100));
}

TEST(GuestRam, GuestPhysicalAddressesFollowTheSectionsFileOffsets) {
  const VmMemfd vm(kRam);
  std::vector<RamSection> s;
  s.push_back(vm.section(8 * kMiB, 4 * kMiB, 0));  // given out of order, and not at gpa == offset
  s.push_back(vm.section(0, 4 * kMiB, 12 * kMiB));
  auto ram = ram_of(std::move(s));
  ASSERT_TRUE(ram);
  EXPECT_EQ(ram->regions()[0].gpa.begin, Gpa(0)) << "sorted by guest-physical address";
  EXPECT_EQ(ram->offset_of(Gpa(0x5000), kPageSize), MemfdOffset(12 * kMiB + 0x5000));
  EXPECT_EQ(guest_byte(*ram, 8 * kMiB + 0x3000), page_mark(3));
  EXPECT_EQ(guest_byte(*ram, 4 * kMiB), -1);
}

TEST(GuestRam, NeighboursContiguousInBothSpacesAreOneRegion) {
  const VmMemfd vm(kRam);
  std::vector<RamSection> s;
  s.push_back(vm.section(kMiB, kMiB, kMiB));
  s.push_back(vm.section(0, kMiB, 0));
  s.push_back(vm.section(2 * kMiB, kMiB, 5 * kMiB));  // next in guest-physical space, not in the file
  auto ram = ram_of(std::move(s));
  ASSERT_TRUE(ram);
  ASSERT_EQ(ram->regions().size(), 2u);
  EXPECT_EQ(ram->offset_of(Gpa(kMiB - kPageSize), 2 * kPageSize), MemfdOffset(kMiB - kPageSize))
      << "one run in the file: one range";
  EXPECT_FALSE(ram->offset_of(Gpa(2 * kMiB - kPageSize), 2 * kPageSize)) << "the file jumps here";
}

TEST(GuestRam, NoneHasNoMemoryAtAll) {
  auto ram = GuestRam::none();
  EXPECT_TRUE(ram->empty());
  EXPECT_EQ(ram->size(), 0u);
  EXPECT_EQ(ram->fd(), -1);
  EXPECT_FALSE(ram->has_frame(0));
  EXPECT_FALSE(ram->holds(MemfdOffset(0), 1));
  EXPECT_TRUE(ram->same_layout(*GuestRam::none()));
  auto from_nothing = GuestRam::from_sections({});
  ASSERT_TRUE(from_nothing);
  EXPECT_TRUE((*from_nothing)->empty());
}

TEST(GuestRam, SameLayoutMeansSameFileAndSameRegions) {
  const VmMemfd vm(kRam), other(kRam);
  auto boot = ram_of(vm.boot_sections());
  EXPECT_TRUE(boot->same_layout(*ram_of(vm.boot_sections()))) << "fresh descriptors, same map";
  EXPECT_FALSE(boot->same_layout(*ram_of(vm.flat_sections())));
  EXPECT_FALSE(ram_of(vm.flat_sections())->same_layout(*ram_of(other.flat_sections()))) << "another file";
  EXPECT_FALSE(boot->same_layout(*GuestRam::none()));
}

// Consumers reopen the file read-only through /proc: no write bit may let them reopen it writable.
TEST(GuestRam, SectionsFileLosesItsWritePermissionBits) {
  const VmMemfd vm(kRam);
  struct stat st{};
  ASSERT_EQ(::fstat(vm.fd(), &st), 0);
  ASSERT_NE(st.st_mode & 0222, 0u) << "memfd_create makes files writable by everyone";
  auto ram = ram_of(vm.flat_sections());
  ASSERT_EQ(::fstat(vm.fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0555u);
  ram->host_bytes(MemfdOffset(0), 1)[0] = std::byte{0x77};  // our own mapping stays writable
  uint8_t b = 0;
  ASSERT_EQ(::pread(vm.fd(), &b, 1, 0), 1);
  EXPECT_EQ(b, 0x77);
}

// Three files: the VM's, another sealed one, and one without seals.
struct Files {
  VmMemfd vm{kRam}, other{kRam}, unsealed{kRam, 0};
};

std::vector<RamSection> list(RamSection a) {
  std::vector<RamSection> s;
  s.push_back(std::move(a));
  return s;
}
std::vector<RamSection> list(RamSection a, RamSection b) {
  auto s = list(std::move(a));
  s.push_back(std::move(b));
  return s;
}

struct Refusal {
  const char* name;
  const char* needle;  // in the reason given
  std::vector<RamSection> (*sections)(const Files&);
};

class RefusedSectionsTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(RefusedSectionsTest, IsRefusedWithAReasonAndEveryDescriptorClosed) {
  const Files f;
  const size_t before = test::open_fds();
  {
    auto r = GuestRam::from_sections(GetParam().sections(f));
    ASSERT_FALSE(r) << "accepted";
    EXPECT_NE(r.error().find(GetParam().needle), std::string::npos) << r.error();
  }
  EXPECT_EQ(test::open_fds(), before) << "descriptors of a refused map are closed";
  struct stat st{};
  ASSERT_EQ(::fstat(f.vm.fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0222u) << "a refused map leaves the file's permissions alone";
}

INSTANTIATE_TEST_SUITE_P(
    GuestRam, RefusedSectionsTest,
    ::testing::Values(
        Refusal{"Overlap", "overlap",
                [](const Files& f) { return list(f.vm.section(0, 2 * kMiB, 0), f.vm.section(kMiB, kMiB, 4 * kMiB)); }},
        Refusal{"SameStart", "overlap",
                [](const Files& f) { return list(f.vm.section(0, kMiB, 0), f.vm.section(0, kPageSize, 0)); }},
        Refusal{"MisalignedGpa", "aligned", [](const Files& f) { return list(f.vm.section(0x800, kMiB, 0)); }},
        Refusal{"MisalignedSize", "aligned", [](const Files& f) { return list(f.vm.section(0, kMiB + 1, 0)); }},
        Refusal{"MisalignedOffset", "aligned", [](const Files& f) { return list(f.vm.section(0, kMiB, 0x10)); }},
        Refusal{"Empty", "empty", [](const Files& f) { return list(f.vm.section(0, 0, 0)); }},
        Refusal{"Wraps", "wraps", [](const Files& f) { return list(f.vm.section(0 - kPageSize, 2 * kPageSize, 0)); }},
        Refusal{"PastTheFile", "past the file",
                [](const Files& f) { return list(f.vm.section(0, kMiB, kRam - kPageSize)); }},
        Refusal{"ForeignFile", "another file",
                [](const Files& f) { return list(f.vm.section(0, kMiB, 0), f.other.section(kMiB, kMiB, kMiB)); }},
        Refusal{"NoDescriptor", "no descriptor",
                [](const Files& f) { return list(f.vm.section(0, kMiB, 0), RamSection{Gpa(kMiB), kMiB, {}, {}}); }},
        Refusal{"Unsealed", "sealed against shrinking",
                [](const Files& f) { return list(f.unsealed.section(0, kMiB, 0)); }}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(GuestRam, KeepsOneDescriptorOfManyAndClosesItWithTheRam) {
  const VmMemfd vm(kRam);
  const size_t before = test::open_fds();
  std::vector<RamSection> s;
  for (uint64_t i = 0; i < 8; ++i) s.push_back(vm.section(i * kMiB, kMiB, i * kMiB));
  EXPECT_EQ(test::open_fds(), before + 8);
  auto ram = ram_of(std::move(s));
  EXPECT_EQ(test::open_fds(), before + 1);
  EXPECT_EQ(ram->regions().size(), 1u) << "eight neighbours in one run";
  ram.reset();
  EXPECT_EQ(test::open_fds(), before);
}

}  // namespace
}  // namespace vgd
