// Damage hints for consumers (docs/protocol.md §3.9): per consumer and hinted plane (primary,
// sprite) of the first active pipe, the damage the guest described since that consumer last
// asked, bounded like any display::DamageSet (past 16 rectangles, their bounding box). Fed by
// the vGPU's vblank reports and pipe edges; serialised by the caller like VgpuEvents.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "display/display_engine.h"
#include "hw/display.h"

namespace vgd::events {

struct DamageAnswer {
  bool hinted = false;          // false: no hints for this plane, compare pixels
  display::DamageSet damage;    // when hinted: what changed since the last answer
};

class DamageLog {
 public:
  using Key = uint32_t;  // the consumer, as its owner numbers it

  // A new consumer has no picture yet: its first answer is the whole plane.
  void add(Key k);
  void remove(Key k);

  void on_vblank(const display::VblankReport& r);
  // A pipe went on or off: what the first active pipe shows may be another picture altogether.
  void on_pipe_state();

  // What `k` has not been told yet, cleared (nothing is cleared while the plane is unhinted).
  // nullopt for an unknown consumer; the cursor is never hinted.
  std::optional<DamageAnswer> take(Key k, hw::Plane pl);
  bool hinted() const { return hinted_; }

 private:
  struct Entry {
    Key key;
    std::array<display::DamageSet, display::kHintedPlanes> planes;
  };
  void all_whole();
  std::vector<Entry> entries_;
  std::optional<hw::Pipe> pipe_;  // the first active pipe at the last vblank
  bool hinted_ = false;
};

}  // namespace vgd::events
