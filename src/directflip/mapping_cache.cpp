#include "directflip/mapping_cache.h"

#include <algorithm>

namespace vgd::directflip {

Expected<std::shared_ptr<const fb::PlaneView>, std::string> MappingCache::get(const std::shared_ptr<GuestRam>& ram,
                                                                              std::span<const MemfdOffset> pages) {
  keep_only(ram.get());
  auto same = [&](const Entry& e) { return std::ranges::equal(e.pages, pages); };
  if (auto it = std::find_if(entries_.begin(), entries_.end(), same); it != entries_.end()) {
    std::rotate(it, it + 1, entries_.end());  // most recently used last
    return entries_.back().view;
  }
  auto v = fb::PlaneView::map(ram, pages);
  if (!v) return Unexpected(v.error());
  ++maps_;
  if (entries_.size() == kEntries) entries_.erase(entries_.begin());
  entries_.push_back(Entry{{pages.begin(), pages.end()}, std::make_shared<const fb::PlaneView>(std::move(*v)), ram.get()});
  return entries_.back().view;
}

void MappingCache::keep_only(const GuestRam* ram) {
  std::erase_if(entries_, [ram](const Entry& e) { return e.ram != ram; });
}

}  // namespace vgd::directflip
