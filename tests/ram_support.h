// A VM's RAM as QEMU's memory-backend-memfd makes it (docs/design.md "Guest RAM"): one sealed
// memfd whose page p starts with the byte p % 251 + 1, handed out as sections each with a
// descriptor of its own.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "memory/guest_ram.h"

namespace vgd::test {

// The marker byte at the start of page p of a VmMemfd.
constexpr uint8_t page_mark(uint64_t page) { return static_cast<uint8_t>(page % 251 + 1); }

class VmMemfd {
 public:
  // seals: what QEMU adds with seal=on (its default); 0 for a memfd with none.
  explicit VmMemfd(uint64_t size, unsigned seals = F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) : size_(size) {
    fd_.reset(::memfd_create("qemu-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    EXPECT_TRUE(fd_.valid());
    EXPECT_EQ(::ftruncate(fd_.get(), static_cast<off_t>(size)), 0);
    for (uint64_t p = 0; p < size / kPageSize; ++p) {
      const uint8_t b = page_mark(p);
      EXPECT_EQ(::pwrite(fd_.get(), &b, 1, static_cast<off_t>(p * kPageSize)), 1);
    }
    if (seals) {
      EXPECT_EQ(::fcntl(fd_.get(), F_ADD_SEALS, seals), 0);
    }
  }
  int fd() const { return fd_.get(); }
  uint64_t size() const { return size_; }
  // A section with a fresh descriptor of this file, as each SYNC_SYSMEM brings.
  RamSection section(uint64_t gpa, uint64_t size, uint64_t offset) const {
    return RamSection{Gpa(gpa), size, MemfdOffset(offset), UniqueFd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0))};
  }
  // The RAM QEMU's pc machine sends at boot: [0, 768 KiB) and [1 MiB, size), a hole between.
  std::vector<RamSection> boot_sections() const {
    std::vector<RamSection> s;
    s.push_back(section(0, 0xc0000, 0));
    s.push_back(section(0x100000, size_ - 0x100000, 0x100000));
    return s;
  }
  // ... and after the BIOS: all of it in one.
  std::vector<RamSection> flat_sections() const {
    std::vector<RamSection> s;
    s.push_back(section(0, size_, 0));
    return s;
  }

 private:
  UniqueFd fd_;
  uint64_t size_;
};

// Descriptors this process has open now.
inline size_t open_fds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (::readdir(d)) ++n;
  ::closedir(d);
  return n - 3;  // ".", ".." and the directory's own
}

}  // namespace vgd::test
