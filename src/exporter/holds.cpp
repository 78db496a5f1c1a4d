#include "exporter/holds.h"

namespace vgd::exporter {

Holds::Tally Holds::tally(uint32_t id) const {
  const auto t = tally_.find(id);
  return t == tally_.end() ? Tally{} : t->second;
}

void Holds::unpin(uint32_t id) {
  const auto t = tally_.find(id);
  if (--t->second.pins == 0 && t->second.refs == 0) tally_.erase(t);
}

void Holds::unref(uint32_t id, uint32_t n) {
  const auto t = tally_.find(id);
  t->second.refs -= n;
  if (t->second.refs == 0 && t->second.pins == 0) tally_.erase(t);
}

void Holds::pin(ConsumerKey who, hw::Plane plane, uint32_t id) {
  uint32_t& slot = consumers_[who].pins[static_cast<size_t>(plane)];
  if (slot == id) return;
  if (slot != 0) unpin(slot);
  slot = id;
  if (id != 0) ++tally_[id].pins;
}

void Holds::add(ConsumerKey who, uint32_t id) {
  Consumer& c = consumers_[who];
  ++c.refs[id];
  ++c.total;
  ++tally_[id].refs;
  for (uint32_t& pin : c.pins) {
    if (pin != id) continue;
    pin = 0;
    unpin(id);
  }
}

int64_t Holds::drop(ConsumerKey who, uint32_t id) {
  const auto c = consumers_.find(who);
  if (c == consumers_.end()) return -1;
  const auto r = c->second.refs.find(id);
  if (r == c->second.refs.end()) return -1;
  const uint32_t left = --r->second;
  --c->second.total;
  if (left == 0) c->second.refs.erase(r);
  unref(id, 1);
  return left;
}

uint32_t Holds::held_by(ConsumerKey who) const {
  const auto c = consumers_.find(who);
  return c == consumers_.end() ? 0 : c->second.total;
}

void Holds::forget(ConsumerKey who) {
  const auto c = consumers_.find(who);
  if (c == consumers_.end()) return;
  for (uint32_t pin : c->second.pins)
    if (pin != 0) unpin(pin);
  for (const auto& [id, n] : c->second.refs) unref(id, n);
  consumers_.erase(c);
}

}  // namespace vgd::exporter
