// A read-only CPU view of a decoded plane's bytes, in GM order, gathered through its page list
// straight from the VM's RAM memfd: the host sees what the guest wrote, live, with no copy.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "decode/plane.h"
#include "memory/guest_ram.h"
#include "util/address.h"
#include "util/expected.h"
#include "util/mapping.h"

namespace vgd::fb {

class PlaneView {
 public:
  // Maps pages (memfd offsets, one per 4 KiB GM page) so that page i appears at byte i·4 KiB.
  // Pages contiguous and ascending in the memfd: one plain mmap (zero-copy). Otherwise a
  // PROT_NONE range is reserved and each run of pages is mapped over it with MAP_FIXED.
  static Expected<PlaneView, std::string> map(std::shared_ptr<GuestRam> ram, std::span<const MemfdOffset> pages);
  static Expected<PlaneView, std::string> map(std::shared_ptr<GuestRam> ram, const decode::PlaneInfo& plane) {
    return map(std::move(ram), plane.pages);
  }

  // Bytes someone else mapped (a consumer's mapping of an exported buffer), in GM order; not
  // owned: they must outlive the view.
  static PlaneView borrow(std::span<const std::byte> bytes) { return PlaneView(bytes); }

  std::span<const std::byte> bytes() const { return bytes_; }
  // One mapping of one memfd range, rather than pages gathered into a reserved range (false
  // for a borrowed view).
  bool zero_copy() const { return zero_copy_; }

 private:
  PlaneView(std::shared_ptr<GuestRam> ram, Mapping map, bool zero_copy)
      : ram_(std::move(ram)), map_(std::move(map)), bytes_(map_.bytes()), zero_copy_(zero_copy) {}
  explicit PlaneView(std::span<const std::byte> borrowed) : bytes_(borrowed) {}
  // Declared first, destroyed last: the RAM outlives the mapping of it (and anyone holding
  // only the view keeps the VM's memory alive).
  std::shared_ptr<GuestRam> ram_;
  Mapping map_;
  std::span<const std::byte> bytes_;  // map_'s (a move keeps its address) or borrowed
  bool zero_copy_ = false;
};

}  // namespace vgd::fb
