#include "memory/guest_ram.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vgd {

Expected<std::shared_ptr<GuestRam>, std::string> GuestRam::create(uint64_t size, std::string_view name) {
  size = align_up(size, kPageSize);
  if (size == 0) return Unexpected(std::string("guest RAM size must be non-zero"));
  std::string n(name);
  UniqueFd fd(::memfd_create(n.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return Unexpected(fmt::format("memfd_create({}): {}", n, std::strerror(errno)));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return Unexpected(fmt::format("ftruncate guest RAM to {} bytes: {}", size, std::strerror(errno)));
  // No shrink: a mapping of ours or a consumer's can never end up past EOF (SIGBUS).
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return Unexpected(fmt::format("sealing guest RAM memfd: {}", std::strerror(errno)));
  // Read-only for everyone: consumers get the memfd reopened O_RDONLY, and with mode 0400 they
  // cannot reopen it writable through /proc/<pid>/fd (root still can; root could ptrace anyway).
  // Our own writable mapping below comes from this descriptor, which stays read-write.
  if (::fchmod(fd.get(), 0400) != 0) return Unexpected(fmt::format("chmod guest RAM memfd: {}", std::strerror(errno)));
  auto map = Mapping::of_fd(fd.get(), size, 0, PROT_READ | PROT_WRITE);
  if (!map) return Unexpected(map.error());
  return std::shared_ptr<GuestRam>(new GuestRam(std::move(fd), std::move(*map), size));
}

}  // namespace vgd
