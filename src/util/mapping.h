// Move-only owner of an mmap()ed range; unmapped exactly once.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "util/expected.h"

namespace vgd {

class Mapping {
 public:
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      unmap();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  ~Mapping() { unmap(); }

  // Anonymous private zero-filled memory: pages cost nothing until touched, which is what lets
  // a sparse table (vregs, GGTT slices) be sized for the worst case.
  static Expected<Mapping, std::string> anonymous(size_t len);
  // Shared mapping of [offset, offset + len) of fd.
  static Expected<Mapping, std::string> of_fd(int fd, size_t len, off_t offset, int prot);

  // Drops the pages of an anonymous mapping: they read as zero again and cost nothing.
  void discard() const {
    if (addr_) ::madvise(addr_, len_, MADV_DONTNEED);
  }

  std::byte* data() const { return static_cast<std::byte*>(addr_); }
  size_t size() const { return len_; }
  std::span<std::byte> bytes() const { return {data(), len_}; }
  explicit operator bool() const { return addr_ != nullptr; }

 private:
  Mapping(void* a, size_t l) : addr_(a), len_(l) {}
  void unmap() {
    if (addr_) ::munmap(addr_, len_);
    addr_ = nullptr;
    len_ = 0;
  }
  void* addr_ = nullptr;
  size_t len_ = 0;
};

}  // namespace vgd
