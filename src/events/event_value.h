// Refresh-event values: what one 64-bit eventfd counter carries (docs/protocol.md quotes this).
//
// The kernel ADDS every value written to an eventfd, and a consumer reads the sum since its last
// read. A bitmask would not survive that (two unread "primary" bits add up to one "sprite" bit),
// so the counter is split into four 16-bit fields, each counting one kind of event:
//
//   bits  0–15  primary plane changed   each event adds 1 << 0
//   bits 16–31  sprite plane changed    each event adds 1 << 16
//   bits 32–47  cursor changed          each event adds 1 << 32
//   bits 48–63  display turned off      each event adds 1 << 48
//
// decode() splits a value read from the eventfd into the four counts. A vblank adds at most one
// event of each kind per active pipe, so counts are exact as long as the consumer reads before a
// field reaches 65536 unread events (18 minutes of events every vblank at 60 Hz); a field that
// overflows carries into the next one, but any non-zero value still means "something changed:
// query the planes". Values accumulated inside the host (a polling consumer's pending value)
// saturate per field instead of carrying (accumulate()).
//
// The unmerged VFIO refresh-event series put primary at 1<<56 and cursor at 1<<48 in one
// counter: 256 unread cursor events read as a primary event. Fixed-width fields avoid that.
#pragma once

#include <cstdint>

#include "hw/display.h"

namespace vgd::events {

enum class EventKind : uint8_t { Primary = 0, Sprite = 1, Cursor = 2, DisplayOff = 3 };
inline constexpr unsigned kEventKinds = 4;
inline constexpr unsigned kFieldBits = 16;
inline constexpr uint64_t kFieldMax = (uint64_t{1} << kFieldBits) - 1;

constexpr unsigned shift(EventKind k) { return kFieldBits * static_cast<unsigned>(k); }
// The value of `n` events of one kind (n is clamped to the field).
constexpr uint64_t event_value(EventKind k, uint64_t n = 1) { return (n < kFieldMax ? n : kFieldMax) << shift(k); }
constexpr uint64_t count(uint64_t value, EventKind k) { return (value >> shift(k)) & kFieldMax; }

inline constexpr uint64_t kPrimaryEvent = event_value(EventKind::Primary);
inline constexpr uint64_t kSpriteEvent = event_value(EventKind::Sprite);
inline constexpr uint64_t kCursorEvent = event_value(EventKind::Cursor);
inline constexpr uint64_t kDisplayOffEvent = event_value(EventKind::DisplayOff);
static_assert(kPrimaryEvent == 1 && kSpriteEvent == 1ull << 16 && kCursorEvent == 1ull << 32 &&
              kDisplayOffEvent == 1ull << 48);

constexpr EventKind kind_of(hw::Plane p) {
  return p == hw::Plane::Primary ? EventKind::Primary : p == hw::Plane::Sprite ? EventKind::Sprite : EventKind::Cursor;
}

// A value split into its counts.
struct EventCounts {
  uint64_t primary = 0, sprite = 0, cursor = 0, display_off = 0;
  constexpr bool any() const { return (primary | sprite | cursor | display_off) != 0; }
  friend constexpr bool operator==(const EventCounts&, const EventCounts&) = default;
};

constexpr EventCounts decode(uint64_t value) {
  return {count(value, EventKind::Primary), count(value, EventKind::Sprite), count(value, EventKind::Cursor),
          count(value, EventKind::DisplayOff)};
}
constexpr uint64_t encode(const EventCounts& c) {
  return event_value(EventKind::Primary, c.primary) | event_value(EventKind::Sprite, c.sprite) |
         event_value(EventKind::Cursor, c.cursor) | event_value(EventKind::DisplayOff, c.display_off);
}

// a + b field by field, each field stopping at kFieldMax instead of carrying into the next.
constexpr uint64_t accumulate(uint64_t a, uint64_t b) {
  uint64_t out = 0;
  for (unsigned k = 0; k < kEventKinds; ++k) {
    const auto kind = static_cast<EventKind>(k);
    out |= event_value(kind, count(a, kind) + count(b, kind));
  }
  return out;
}

static_assert(decode(encode({3, 2, 1, 1})) == EventCounts{3, 2, 1, 1});
static_assert(accumulate(event_value(EventKind::Primary, kFieldMax), kPrimaryEvent) ==
              event_value(EventKind::Primary, kFieldMax));

}  // namespace vgd::events
