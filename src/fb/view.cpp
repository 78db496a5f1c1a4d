#include "fb/view.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

namespace vgd::fb {
namespace {

// Length of the run of pages starting at i that follow each other in the memfd.
size_t run_length(std::span<const MemfdOffset> pages, size_t i) {
  size_t n = 1;
  while (i + n < pages.size() && pages[i + n] == pages[i + n - 1] + kPageSize) ++n;
  return n;
}

std::optional<std::string> check_pages(const GuestRam& ram, std::span<const MemfdOffset> pages) {
  if (pages.empty()) return std::string("plane has no pages to map");
  if (pages.size() > SIZE_MAX / kPageSize) return fmt::format("{} pages do not fit the address space", pages.size());
  for (size_t i = 0; i < pages.size(); ++i) {
    const MemfdOffset p = pages[i];
    if (!p.page_aligned()) return fmt::format("page {} at memfd offset {:#x} is not page-aligned", i, p.value());
    if (!ram.holds(p, kPageSize))
      return fmt::format("page {} at memfd offset {:#x} is outside the {:#x} bytes of the guest RAM file", i,
                         p.value(), ram.size());
  }
  return std::nullopt;
}

}  // namespace

Expected<PlaneView, std::string> PlaneView::map(std::shared_ptr<GuestRam> ram, std::span<const MemfdOffset> pages) {
  if (!ram) return Unexpected(std::string("no guest RAM to map the plane from"));
  if (auto err = check_pages(*ram, pages)) return Unexpected(std::move(*err));
  const size_t len = pages.size() * kPageSize;

  if (run_length(pages, 0) == pages.size()) {
    auto m = Mapping::of_fd(ram->fd(), len, static_cast<off_t>(pages[0].value()), PROT_READ);
    if (!m) return Unexpected(fmt::format("mapping plane: {}", m.error()));
    return PlaneView(std::move(ram), std::move(*m), true);
  }

  // Reserve the whole range first so the runs land next to each other and one Mapping owns
  // (and unmaps) all of them; PROT_NONE so nothing but guest pages is ever readable there.
  auto range = Mapping::anonymous(len);
  if (!range) return Unexpected(fmt::format("reserving plane view: {}", range.error()));
  if (::mprotect(range->data(), len, PROT_NONE) != 0)
    return Unexpected(fmt::format("reserving plane view: mprotect: {}", std::strerror(errno)));
  for (size_t i = 0; i < pages.size();) {
    const size_t n = run_length(pages, i);
    void* at = range->data() + i * kPageSize;
    if (::mmap(at, n * kPageSize, PROT_READ, MAP_SHARED | MAP_FIXED, ram->fd(), static_cast<off_t>(pages[i].value())) ==
        MAP_FAILED)
      return Unexpected(fmt::format("mapping pages {}..{} of the plane at memfd offset {:#x}: {}", i, i + n - 1,
                                    pages[i].value(), std::strerror(errno)));
    i += n;
  }
  return PlaneView(std::move(ram), std::move(*range), false);
}

}  // namespace vgd::fb
