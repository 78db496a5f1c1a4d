#include "display/gate_chain.h"

#include <algorithm>
#include <utility>

namespace vgd::display {

void GateChain::add(FlipDoneGate* g, uint32_t max_hold_vblanks) {
  const uint32_t bound = std::max<uint32_t>(max_hold_vblanks, 1);
  for (Entry& e : entries_)
    if (e.gate == g) {
      e.max_hold = bound;
      return;
    }
  entries_.push_back(Entry{g, bound, {}});
}

bool GateChain::remove(FlipDoneGate* g) {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [g](const Entry& e) { return e.gate == g; });
  if (it == entries_.end()) return false;
  const Entry gone = *it;
  entries_.erase(it);  // first: a gate that reacts by asking the engine again is not asked
  for (size_t s = 0; s < kSlots; ++s)
    if (gone.said[s] & kRefused) gone.gate->hold_ended(flips_[s], false);
  return true;
}

bool GateChain::contains(const FlipDoneGate* g) const {
  return std::any_of(entries_.begin(), entries_.end(), [g](const Entry& e) { return e.gate == g; });
}

uint32_t GateChain::max_hold() const {
  uint32_t m = 0;
  for (const Entry& e : entries_) m = m ? std::min(m, e.max_hold) : e.max_hold;
  return m ? m : 1;
}

bool GateChain::may_complete(const HeldFlip& f) {
  const size_t s = slot(f);
  if (f.first)
    for (Entry& e : entries_) e.said[s] = 0;  // a new flip in this slot
  flips_[s] = HeldFlip{f.pipe, f.plane, f.previous, false};
  bool all = true;
  for (Entry& e : entries_) {
    const bool yes = e.gate->may_complete(f);
    e.said[s] = static_cast<uint8_t>(yes ? e.said[s] & ~kRefusing : e.said[s] | kRefused | kRefusing);
    all = all && yes;
  }
  return all;
}

void GateChain::hold_ended(const HeldFlip& f, bool timed_out) {
  const size_t s = slot(f);
  for (Entry& e : entries_) {
    const uint8_t said = std::exchange(e.said[s], 0);
    if (said & kRefused) e.gate->hold_ended(f, timed_out && (said & kRefusing));
  }
}

}  // namespace vgd::display
