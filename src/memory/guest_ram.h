// A VM's RAM: one memfd, sealed so its size can never change under a mapping, mapped once into
// the host. Guest-physical addresses map flat onto memfd offsets (our micro-VMs have no PCI
// hole in RAM); offset_of() is the one place that knows this.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "util/address.h"
#include "util/expected.h"
#include "util/mapping.h"
#include "util/unique_fd.h"

namespace vgd {

class GuestRam {
 public:
  // size is rounded up to whole pages.
  static Expected<std::shared_ptr<GuestRam>, std::string> create(uint64_t size, std::string_view name);

  uint64_t size() const { return size_; }
  int fd() const { return fd_.get(); }

  // Memfd offset of [gpa, gpa + len), or nothing if any byte is outside RAM.
  std::optional<MemfdOffset> offset_of(Gpa gpa, uint64_t len) const {
    if (len == 0 || gpa.value() >= size_ || len > size_ - gpa.value()) return std::nullopt;
    return MemfdOffset(gpa.value());
  }
  bool has_frame(uint64_t frame) const { return frame < size_ / kPageSize; }

  // The host's view of [off, off + len); the caller has checked the range via offset_of().
  std::span<std::byte> host_bytes(MemfdOffset off, uint64_t len) const {
    return map_.bytes().subspan(off.value(), len);
  }

 private:
  GuestRam(UniqueFd fd, Mapping map, uint64_t size) : fd_(std::move(fd)), map_(std::move(map)), size_(size) {}
  UniqueFd fd_;
  Mapping map_;
  uint64_t size_;
};

}  // namespace vgd
