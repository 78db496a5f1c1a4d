#include "exporter/holds.h"

#include <algorithm>

namespace vgd::exporter {

void Holds::add(ConsumerKey who, uint32_t id) {
  Consumer& c = consumers_[who];
  ++c.refs[id];
  std::ranges::replace(c.pins, id, 0u);
}

int64_t Holds::drop(ConsumerKey who, uint32_t id) {
  const auto c = consumers_.find(who);
  if (c == consumers_.end()) return -1;
  const auto r = c->second.refs.find(id);
  if (r == c->second.refs.end()) return -1;
  const uint32_t left = --r->second;
  if (left == 0) c->second.refs.erase(r);
  return left;
}

void Holds::forget_id(uint32_t id) {
  for (auto& [who, c] : consumers_) {
    c.refs.erase(id);
    std::ranges::replace(c.pins, id, 0u);
  }
}

bool Holds::pinned(uint32_t id) const {
  if (id == 0) return false;  // 0 is "no pin"
  return std::ranges::any_of(consumers_, [id](const auto& kv) { return std::ranges::find(kv.second.pins, id) != kv.second.pins.end(); });
}

uint32_t Holds::references(uint32_t id) const {
  uint32_t n = 0;
  for (const auto& [who, c] : consumers_)
    if (const auto r = c.refs.find(id); r != c.refs.end()) n += r->second;
  return n;
}

}  // namespace vgd::exporter
