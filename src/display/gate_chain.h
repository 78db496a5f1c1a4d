// Flip-done gates (docs/design.md, Tearing control; docs/direct-flip.md, The engine): who may
// hold back a latched synchronous flip's flip-done, and the chain that lets several of them do so
// at once — tearing control waits for consumers, direct flip for the host's page flip, and a
// flip completes only when every installed gate allows it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "hw/display.h"

namespace vgd::display {

// A latched synchronous flip whose flip-done may be held back: the guest takes flip-done as
// leave to draw into `previous`, the surface the flip took off the screen.
struct HeldFlip {
  hw::Pipe pipe = hw::Pipe::A;
  hw::Plane plane = hw::Plane::Primary;
  uint32_t previous = 0;  // SURFLIVE before the flip latched
  bool first = false;     // asked at the vblank that latched it
};

// Decides when a latched synchronous flip may complete. Asked at the latching vblank, again at
// each later vblank and at retry_held(); the engine raises flip-done anyway at its bound, so a
// gate can slow a guest down but never stall it.
class FlipDoneGate {
 public:
  virtual bool may_complete(const HeldFlip& f) = 0;
  // A flip it refused (at any ask) is over: flip-done raised (timed_out: at the bound, the gate
  // still saying no), or dropped (its pipe stopped, a later flip of the plane superseded it, the
  // gate was removed). Not called for flips it never refused.
  virtual void hold_ended(const HeldFlip& f, bool timed_out) = 0;

 protected:
  ~FlipDoneGate() = default;
};

// The gates installed on one engine, itself a gate: it allows a flip when all of them do (each
// is asked every time, none skipped, so each can time its own holds), and tells each gate that
// refused a flip when that flip's hold ends. The bound is the smallest of the gates' bounds:
// each user promises its guest at most that long a wait (tearing control's 2 vblanks, direct
// flip's 3), and the smallest keeps every promise.
class GateChain final : public FlipDoneGate {
 public:
  // Adds g, or changes its bound when it is already in (max_hold_vblanks >= 1).
  void add(FlipDoneGate* g, uint32_t max_hold_vblanks);
  // Removes g: the holds it refused are over for it (hold_ended, not timed out). The flips stay
  // held until the caller asks the remaining gates again. False when g was not in.
  bool remove(FlipDoneGate* g);
  bool contains(const FlipDoneGate* g) const;
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  uint32_t max_hold() const;  // 1 when empty

  bool may_complete(const HeldFlip& f) override;
  void hold_ended(const HeldFlip& f, bool timed_out) override;

 private:
  static constexpr size_t kSlots = hw::kPipeCount * hw::kPlaneCount;  // one hold per pipe and plane
  static size_t slot(const HeldFlip& f) {
    return hw::index(f.pipe) * hw::kPlaneCount + static_cast<size_t>(f.plane);
  }
  // What a gate said about the flip held in a slot.
  enum Said : uint8_t { kRefused = 1, kRefusing = 2 };  // at some ask / at the last one
  struct Entry {
    FlipDoneGate* gate = nullptr;
    uint32_t max_hold = 1;
    std::array<uint8_t, kSlots> said{};
  };
  std::vector<Entry> entries_;
  std::array<HeldFlip, kSlots> flips_{};  // the flip each slot's answers are about
};

}  // namespace vgd::display
