#include "util/mapping.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace vgd {

Expected<Mapping, std::string> Mapping::anonymous(size_t len) {
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
  if (p == MAP_FAILED) return Unexpected(fmt::format("mmap of {} bytes: {}", len, std::strerror(errno)));
  return Mapping(p, len);
}

Expected<Mapping, std::string> Mapping::of_fd(int fd, size_t len, off_t offset, int prot) {
  void* p = ::mmap(nullptr, len, prot, MAP_SHARED, fd, offset);
  if (p == MAP_FAILED)
    return Unexpected(fmt::format("mmap of fd {} [{:#x}+{:#x}]: {}", fd, offset, len, std::strerror(errno)));
  return Mapping(p, len);
}

}  // namespace vgd
