// CPU views of guest surfaces kept across frames (docs/direct-flip.md, The engine). A shadow
// refill or composition reads the guest's surface through an fb::PlaneView; mapping it anew each
// frame faults in every page on the first read and ends with an munmap, which cost more than the
// copy itself. A view depends on nothing but the RAM object and the page list the decode
// translated through the GGTT now, so that pair is the key: a guest that rewrites the PTEs
// behind the same GM range gets other pages, hence another view, and an unrelated PTE write
// keeps the views. A view reads the guest's bytes live, so a hit shows what the guest wrote since.
// Not thread-safe: its PipeLink's rule (pipe_link.h, Threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fb/view.h"
#include "memory/guest_ram.h"
#include "util/address.h"
#include "util/expected.h"

namespace vgd::directflip {

class MappingCache {
 public:
  // A guest's triple-buffered primary, a double-buffered sprite and a cursor.
  static constexpr size_t kEntries = 6;

  // The view of `pages` of `ram`: the cached one, or a new one (the least recently used dropped
  // to make room). Views of another RAM are dropped first: the VM's RAM was replaced.
  Expected<std::shared_ptr<const fb::PlaneView>, std::string> get(const std::shared_ptr<GuestRam>& ram,
                                                                   std::span<const MemfdOffset> pages);
  // Drops every view unless it is of `ram` (the vGPU's RAM now): the old RAM is not kept alive.
  void keep_only(const GuestRam* ram);
  void clear() { entries_.clear(); }

  size_t size() const { return entries_.size(); }
  uint64_t maps() const { return maps_; }  // views made (misses)

 private:
  struct Entry {
    std::vector<MemfdOffset> pages;
    std::shared_ptr<const fb::PlaneView> view;  // holds its RAM: identity without reuse of the address
    const GuestRam* ram = nullptr;
  };
  std::vector<Entry> entries_;  // most recently used last
  uint64_t maps_ = 0;
};

}  // namespace vgd::directflip
