// Tearing control for one vGPU (reference §7.2, issue 4; docs/design.md "Tearing control"): what
// keeps a consumer from reading a frame while the guest draws into it.
//  * hold — HoldGate: a synchronous primary flip's flip-done, the guest's leave to draw into the
//    buffer the flip took off the screen, waits until no consumer holds that buffer, for at most
//    kHoldVblanks vblanks (the display engine enforces the bound).
//  * copy — ShadowFrames: at vblank the primary's front buffer is copied into one of two
//    host-owned sealed memfds; consumers get those, never guest RAM, and the guest never waits.
// Not thread-safe: the caller serialises them with the vGPU (the daemon's device lock).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "display/display_engine.h"
#include "exporter/exporter.h"
#include "memory/guest_ram.h"
#include "util/mapping.h"
#include "vgpu/vgpu.h"

namespace vgd::exporter {

// The bound of a hold: 2 vblanks, about 33 ms at 60 Hz.
inline constexpr uint32_t kHoldVblanks = 2;

struct TearingCounters {
  // hold
  uint64_t held = 0;           // primary flips whose flip-done waited for a consumer
  uint64_t hold_timeouts = 0;  // ... and came at the bound, the consumer still holding the buffer
  uint64_t hold_ns_total = 0;  // how long flip-dones waited
  uint64_t hold_ns_max = 0;
  // copy
  uint64_t copies = 0;
  uint64_t copy_skipped = 0;   // both shadows exported: the frame was not copied (consumers skip it)
  uint64_t copy_failures = 0;  // no shadow memfd could be made
  uint64_t copy_bytes = 0;
  uint64_t copy_ns_total = 0;  // CPU time of the copies (wall clock, under the device lock)
  uint64_t copy_ns_max = 0;
  uint64_t copy_ns_last = 0;
};

class HoldGate final : public display::FlipDoneGate {
 public:
  // `now_ns` times the holds (the daemon's vblank clock; a virtual one in tests).
  HoldGate(const Exporter& ex, std::function<uint64_t()> now_ns) : ex_(&ex), now_ns_(std::move(now_ns)) {}

  bool may_complete(const display::HeldFlip& f) override;
  void hold_ended(const display::HeldFlip& f, bool timed_out) override;
  const TearingCounters& counters() const { return c_; }

 private:
  const Exporter* ex_;
  std::function<uint64_t()> now_ns_;
  std::array<uint64_t, hw::kPipeCount> since_{};  // when each pipe's primary hold began
  TearingCounters c_;
};

class ShadowFrames {
 public:
  // Shadow ids come from kShadowIds, a range the Exporter's ids never enter.
  static constexpr bool owns(uint32_t id) { return kShadowIds.contains(id); }
  // As refresh events (events::RefreshTracker): after this many vblanks without a primary flip
  // the guest is taken to draw into its front buffer, which is then copied at every vblank.
  static constexpr uint32_t kFrontBufferThreshold = 10;

  explicit ShadowFrames(std::weak_ptr<const GuestRam> ram) : ram_(std::move(ram)) {}

  // The vGPU's latch listener: copies the primary of the first active pipe when it may have
  // changed (a flip, the pipe's first vblank, a skipped copy, front-buffer rendering).
  void on_vblank(const Vgpu& v, const display::VblankReport& r);
  // Copies a decoded plane into a shadow no consumer holds, which becomes the front; false when
  // none can take it (counted in copy_skipped) or no memfd could be made. A shadow a consumer
  // pins (queried, not yet fetched) may get the new frame but keeps its id: a new geometry
  // needs a shadow nobody pins.
  bool capture(const decode::PlaneInfo& p);

  // A primary query (Exporter::query's contract, pins included): the plane's presence from
  // `decoded`, the format, geometry and id of the front shadow.
  Expected<GfxPlaneInfo, ExportError> query(ConsumerKey who, const GfxPlaneInfo& req, const DecodeResult& decoded);
  // A read-only descriptor of a shadow (one extent); counts a reference for `who`.
  Expected<ExportedBuffer, ExportError> get(ConsumerKey who, uint32_t id);
  // As Exporter::release(): NoSuchBuffer unless `who` holds a reference on it.
  Expected<uint32_t, ExportError> release(ConsumerKey who, uint32_t id);
  void forget(ConsumerKey who) { holds_.forget(who); }
  bool contains(uint32_t id) const { return find(id) != nullptr; }

  uint32_t front_id() const { return front_ ? slots_[*front_].id : 0; }
  const TearingCounters& counters() const { return c_; }

 private:
  struct Slot {
    uint32_t id = 0;  // 0 until it has a memfd; a new memfd gets a new id
    UniqueFd fd;
    Mapping map;
    uint32_t fourcc = 0, width = 0, height = 0, stride = 0;
    uint64_t modifier = 0, size = 0;
    bool shows(const decode::PlaneInfo& p) const;  // has a memfd of p's format and geometry
  };
  Slot* pick(const decode::PlaneInfo& p);
  const Slot* find(uint32_t id) const;
  bool fit(Slot& s, const decode::PlaneInfo& p);

  std::weak_ptr<const GuestRam> ram_;
  std::array<Slot, 2> slots_;
  std::optional<size_t> front_;  // the slot with the newest frame
  Holds holds_;
  IdSequence ids_{kShadowIds};
  std::optional<hw::Pipe> pipe_;  // the first active pipe at the last vblank
  uint32_t idle_ = 0;             // vblanks since the last primary flip, saturating
  bool owed_ = false;             // the last copy was skipped: the shadow is behind the screen
  TearingCounters c_;
};

}  // namespace vgd::exporter
