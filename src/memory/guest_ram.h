// A VM's RAM (docs/design.md "Guest RAM"): one backing file, a sealed memfd mapped once, whole,
// into the host, and a region map from guest-physical ranges to offsets in that file. Our own
// VMs get one memfd we create, mapped flat (one region at offset 0); a QEMU VM sends sections,
// which from_sections() checks and turns into a map. A GuestRam never changes: a new layout is
// a new GuestRam (Vgpu::replace_ram), and whoever holds the old one (a descriptor being made,
// a CPU view of a plane) keeps its file and mapping alive.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/address.h"
#include "util/expected.h"
#include "util/mapping.h"
#include "util/unique_fd.h"

namespace vgd {

// One section of a VM's RAM as its transport delivers it: guest-physical [gpa, gpa + size) is
// [fd_offset, fd_offset + size) of fd's file.
struct RamSection {
  Gpa gpa{};
  uint64_t size = 0;
  MemfdOffset fd_offset{};
  UniqueFd fd;
};

// A guest-physical range and where it starts in the backing file.
struct RamRegion {
  GpaRange gpa{};
  MemfdOffset offset{};
  friend bool operator==(const RamRegion&, const RamRegion&) = default;
};

class GuestRam {
 public:
  // A new sealed memfd of `size` bytes (rounded up to whole pages), guest-physical [0, size)
  // at offset 0.
  static Expected<std::shared_ptr<GuestRam>, std::string> create(uint64_t size, std::string_view name);
  // The map a VM's transport sent: every section page-aligned and non-empty, no two sharing a
  // guest-physical byte, each inside its file, all of them the same file (two descriptors of one
  // file: same st_dev and st_ino), a memfd sealed against shrinking (F_SEAL_SHRINK; anything
  // else is refused, see docs/design.md "Guest RAM"). One descriptor is kept; the others are
  // closed before this returns, whatever it returns. The file's write permission bits are
  // cleared (consumers that reopen it through /proc get it read-only), refused if we may not.
  // No sections: none().
  static Expected<std::shared_ptr<GuestRam>, std::string> from_sections(std::vector<RamSection> sections);
  // A VM that has sent no memory yet: no file, no regions, every frame outside RAM.
  static std::shared_ptr<GuestRam> none();

  bool empty() const { return regions_.empty(); }
  // Bytes of the backing file, all of them mapped (0 for none()). For create() also the end of
  // guest-physical RAM.
  uint64_t size() const { return map_.size(); }
  int fd() const { return fd_.get(); }  // -1 for none()
  // Sorted by guest-physical address; neighbours contiguous in both spaces are one region.
  const std::vector<RamRegion>& regions() const { return regions_; }

  // File offset of [gpa, gpa + len), or nothing unless one region holds all of it.
  std::optional<MemfdOffset> offset_of(Gpa gpa, uint64_t len) const;
  bool has_frame(uint64_t frame) const { return offset_of(Gpa::from_page(frame), kPageSize).has_value(); }
  // [off, off + len) is inside the backing file (and so readable through host_bytes()).
  bool holds(MemfdOffset off, uint64_t len) const {
    return len != 0 && off.value() < size() && len <= size() - off.value();
  }
  // Same file and same regions: replacing one by the other changes no translation.
  bool same_layout(const GuestRam& o) const {
    return dev_ == o.dev_ && ino_ == o.ino_ && regions_ == o.regions_;
  }

  // The host's view of [off, off + len); the caller has checked the range (offset_of, holds).
  std::span<std::byte> host_bytes(MemfdOffset off, uint64_t len) const {
    return map_.bytes().subspan(off.value(), len);
  }

 private:
  GuestRam() = default;
  // Maps fd's file whole and takes its identity.
  static Expected<std::shared_ptr<GuestRam>, std::string> adopt(UniqueFd fd, uint64_t size,
                                                                std::vector<RamRegion> regions);

  UniqueFd fd_;
  Mapping map_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::vector<RamRegion> regions_;
};

}  // namespace vgd
