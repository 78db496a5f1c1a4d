#include "memory/guest_ram.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vgd {
namespace {

Unexpected<std::string> fail(std::string msg) { return Unexpected(std::move(msg)); }
std::string os_error() { return std::strerror(errno); }

std::string describe(size_t i, const RamSection& s) {
  return fmt::format("RAM section {} (guest-physical {:#x}+{:#x} at file offset {:#x})", i, s.gpa.value(), s.size,
                     s.fd_offset.value());
}

// Page-aligned, non-empty, no wrap in either space.
std::optional<std::string> check_shape(const RamSection& s) {
  if (!s.fd) return std::string("has no descriptor");
  if (s.size == 0) return std::string("is empty");
  if (!s.gpa.page_aligned() || !s.fd_offset.page_aligned() || s.size % kPageSize != 0)
    return fmt::format("is not aligned to {}-byte pages", kPageSize);
  if (s.size > UINT64_MAX - s.gpa.value() || s.size > UINT64_MAX - s.fd_offset.value())
    return std::string("wraps around the address space");
  return std::nullopt;
}

// Sections (of one file of file_size bytes) as sorted, disjoint regions; neighbours
// contiguous in both spaces merged.
Expected<std::vector<RamRegion>, std::string> region_map(const std::vector<RamSection>& sections, uint64_t file_size) {
  std::vector<RamRegion> regions;
  for (size_t i = 0; i < sections.size(); ++i) {
    const RamSection& s = sections[i];
    if (s.fd_offset.value() > file_size || s.size > file_size - s.fd_offset.value())
      return fail(fmt::format("{} ends past the file's {:#x} bytes", describe(i, s), file_size));
    regions.push_back(RamRegion{GpaRange{s.gpa, s.size}, s.fd_offset});
  }
  std::ranges::sort(regions, {}, [](const RamRegion& r) { return r.gpa.begin; });
  std::vector<RamRegion> merged;
  for (const RamRegion& r : regions) {
    RamRegion* last = merged.empty() ? nullptr : &merged.back();
    if (last && last->gpa.overlaps(r.gpa))
      return fail(fmt::format("RAM sections overlap at guest-physical {:#x}", r.gpa.begin.value()));
    if (last && last->gpa.end() == r.gpa.begin && last->offset + last->gpa.size == r.offset)
      last->gpa.size += r.gpa.size;  // one run in both spaces: one region
    else
      merged.push_back(r);
  }
  return merged;
}

}  // namespace

Expected<std::shared_ptr<GuestRam>, std::string> GuestRam::create(uint64_t size, std::string_view name) {
  size = align_up(size, kPageSize);
  if (size == 0) return fail("guest RAM size must be non-zero");
  std::string n(name);
  UniqueFd fd(::memfd_create(n.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return fail(fmt::format("memfd_create({}): {}", n, os_error()));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
    return fail(fmt::format("ftruncate guest RAM to {} bytes: {}", size, os_error()));
  // No shrink: a mapping of ours or a consumer's can never end up past EOF (SIGBUS).
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
    return fail(fmt::format("sealing guest RAM memfd: {}", os_error()));
  // Read-only for everyone: consumers get the memfd reopened O_RDONLY, and with mode 0400 they
  // cannot reopen it writable through /proc/<pid>/fd (root still can; root could ptrace anyway).
  // Our own writable mapping comes from this descriptor, which stays read-write.
  if (::fchmod(fd.get(), 0400) != 0) return fail(fmt::format("chmod guest RAM memfd: {}", os_error()));
  return adopt(std::move(fd), size, {RamRegion{GpaRange{Gpa(0), size}, MemfdOffset(0)}});
}

Expected<std::shared_ptr<GuestRam>, std::string> GuestRam::from_sections(std::vector<RamSection> sections) {
  if (sections.empty()) return none();
  struct stat first{};
  for (size_t i = 0; i < sections.size(); ++i) {
    const RamSection& s = sections[i];
    if (auto why = check_shape(s)) return fail(fmt::format("{} {}", describe(i, s), *why));
    struct stat st{};
    if (::fstat(s.fd.get(), &st) != 0) return fail(fmt::format("{}: fstat: {}", describe(i, s), os_error()));
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("{}: not a regular file (a memfd is)", describe(i, s)));
    if (i == 0) first = st;
    if (st.st_dev != first.st_dev || st.st_ino != first.st_ino)
      return fail(fmt::format("{}: another file than section 0's; a VM's RAM must be one memfd", describe(i, s)));
  }
  UniqueFd fd = std::move(sections[0].fd);
  // A file that can shrink under our mapping (or a consumer's) turns a read of guest RAM into
  // SIGBUS. QEMU's memory-backend-memfd seals by default; we take nothing less (docs/design.md).
  const int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK))
    return fail("guest RAM is not a memfd sealed against shrinking (QEMU: memory-backend-memfd with seal=on)");
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail(fmt::format("fstat guest RAM: {}", os_error()));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);  // sealed: it can only grow from now on
  auto regions = region_map(sections, file_size);
  if (!regions) return Unexpected(std::move(regions.error()));
  sections.clear();  // every other descriptor closed
  // Consumers reopen the file read-only through /proc; without write permission bits they
  // cannot reopen it writable (protocol.md, security notes). Refused when the file is not ours.
  if ((st.st_mode & 0222) && ::fchmod(fd.get(), st.st_mode & 0555) != 0)
    return fail(fmt::format("removing write permission from guest RAM memfd: {}", os_error()));
  return adopt(std::move(fd), file_size, std::move(*regions));
}

std::shared_ptr<GuestRam> GuestRam::none() { return std::shared_ptr<GuestRam>(new GuestRam()); }

Expected<std::shared_ptr<GuestRam>, std::string> GuestRam::adopt(UniqueFd fd, uint64_t size,
                                                                 std::vector<RamRegion> regions) {
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail(fmt::format("fstat guest RAM: {}", os_error()));
  auto map = Mapping::of_fd(fd.get(), size, 0, PROT_READ | PROT_WRITE);
  if (!map) return fail(fmt::format("mapping guest RAM: {}", map.error()));
  std::shared_ptr<GuestRam> r(new GuestRam());
  r->fd_ = std::move(fd);
  r->map_ = std::move(*map);
  r->dev_ = st.st_dev;
  r->ino_ = st.st_ino;
  r->regions_ = std::move(regions);
  return r;
}

std::optional<MemfdOffset> GuestRam::offset_of(Gpa gpa, uint64_t len) const {
  // The last region starting at or below gpa is the only one that can hold it.
  auto it = std::ranges::upper_bound(regions_, gpa, {}, [](const RamRegion& r) { return r.gpa.begin; });
  if (it == regions_.begin()) return std::nullopt;
  const RamRegion& r = *--it;
  if (!r.gpa.contains(gpa, len)) return std::nullopt;
  return r.offset + (gpa - r.gpa.begin);
}

}  // namespace vgd
