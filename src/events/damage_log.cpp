#include "events/damage_log.h"

#include <algorithm>

namespace vgd::events {

void DamageLog::add(Key k) {
  remove(k);
  Entry e{k, {}};
  for (auto& d : e.planes) d.mark_whole();
  entries_.push_back(e);
}

void DamageLog::remove(Key k) {
  std::erase_if(entries_, [k](const Entry& e) { return e.key == k; });
}

void DamageLog::all_whole() {
  for (Entry& e : entries_)
    for (auto& d : e.planes) d.mark_whole();
}

void DamageLog::on_pipe_state() { all_whole(); }

void DamageLog::on_vblank(const display::VblankReport& r) {
  std::optional<hw::Pipe> first;
  for (hw::Pipe p : hw::kPipes)
    if (r.pipes[hw::index(p)].active) {
      first = p;
      break;
    }
  if (first != pipe_) all_whole();
  pipe_ = first;
  hinted_ = first && r.pipes[hw::index(*first)].hinted;
  // Unhinted, consumers compare pixels; when hints come back they start from the whole plane.
  if (!hinted_) return all_whole();
  const auto& damage = r.pipes[hw::index(*first)].damage;
  for (Entry& e : entries_)
    for (size_t i = 0; i < e.planes.size(); ++i) e.planes[i].merge(damage[i]);
}

std::optional<DamageAnswer> DamageLog::take(Key k, hw::Plane pl) {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [k](const Entry& e) { return e.key == k; });
  if (it == entries_.end()) return std::nullopt;
  if (!hinted_ || !display::hinted_plane(pl)) return DamageAnswer{};
  display::DamageSet& d = it->planes[static_cast<size_t>(pl)];
  DamageAnswer a{true, d};
  d.clear();
  return a;
}

}  // namespace vgd::events
