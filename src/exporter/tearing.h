// Tearing control for one vGPU (docs/design.md "Tearing control"): what
// keeps a consumer from reading a frame while the guest draws into it.
//  * hold — HoldGate: a synchronous primary flip's flip-done, the guest's leave to draw into the
//    buffer the flip took off the screen, waits until no consumer holds that buffer, for at most
//    kHoldVblanks vblanks (the display engine enforces the bound).
//  * copy — ShadowFrames: when a consumer asks for a plane (the primary for tearing = copy; every
//    plane for an untrusted consumer: PlaneCopies) and it changed since the last copy, the
//    plane's buffer is copied into one of two host-owned sealed memfds; consumers get those,
//    never guest RAM. The copy runs outside the vGPU's lock (never on the
//    vblank path); meanwhile a HoldGate holds the flip-done of a flip away from the buffer being
//    copied, so the guest cannot draw into it mid-copy.
// Not thread-safe: the caller serialises them with the vGPU (the daemon's device lock).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

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
  uint64_t copy_over_budget = 0;  // the frame would take the shadows past the vGPU's budget: not copied
  uint64_t copy_bytes = 0;
  uint64_t copy_ns_total = 0;  // wall-clock time of the copies (outside the vGPU's lock)
  uint64_t copy_ns_max = 0;
  uint64_t copy_ns_last = 0;
};

class HoldGate final : public display::FlipDoneGate {
 public:
  // A primary flip's flip-done waits while `busy(previous surface)`: a consumer holds it (hold)
  // or it is being copied (copy). `now_ns` times the holds (the daemon's vblank clock; a
  // virtual one in tests).
  HoldGate(std::function<bool(Gma)> busy, std::function<uint64_t()> now_ns)
      : busy_(std::move(busy)), now_ns_(std::move(now_ns)) {}
  // hold: the buffers consumers got from `ex`.
  HoldGate(const Exporter& ex, std::function<uint64_t()> now_ns)
      : HoldGate([e = &ex](Gma base) { return e->exported_at(base); }, std::move(now_ns)) {}

  bool may_complete(const display::HeldFlip& f) override;
  void hold_ended(const display::HeldFlip& f, bool timed_out) override;
  const TearingCounters& counters() const { return c_; }

 private:
  std::function<bool(Gma)> busy_;
  std::function<uint64_t()> now_ns_;
  std::array<uint64_t, hw::kPipeCount> since_{};  // when each pipe's primary hold began
  std::array<bool, hw::kPipeCount> holding_{};    // ... while it lasts
  TearingCounters c_;
};

class ShadowFrames {
 public:
  // Shadow ids come from kShadowIds, a range the Exporter's ids never enter (each plane's set
  // from its own part of it: PlaneCopies).
  static constexpr bool owns(uint32_t id) { return kShadowIds.contains(id); }
  // As refresh events (events::RefreshTracker): after this many vblanks without a primary flip
  // the guest is taken to draw into its front buffer, which is then copied at every vblank.
  static constexpr uint32_t kFrontBufferThreshold = 10;

  // What two frames at the type's maximum resolution take at 4 bytes per pixel, rows and height
  // aligned to the largest tile: the default budget (a cursor's: two 256x256 ones).
  static uint64_t default_budget(const VgpuType& t, hw::Plane plane = hw::Plane::Primary);

  // The two shadows together never take more than `budget_bytes` of host memory (0: the
  // type's default_budget), however large a plane the guest programs. They copy `plane` and
  // number their frames from `ids` (a part of kShadowIds).
  ShadowFrames(std::weak_ptr<const GuestRam> ram, const VgpuType& type, uint64_t budget_bytes = 0,
               hw::Plane plane = hw::Plane::Primary, IdRange ids = kShadowIds)
      : ram_(std::move(ram)),
        budget_(budget_bytes ? budget_bytes : default_budget(type, plane)),
        plane_(plane),
        ids_(ids) {}

  // The vGPU's latch listener: notes that the plane of the first active pipe may have changed
  // (a flip, the pipe's first vblank, front-buffer rendering), so the next query of it copies.
  // Copies nothing itself: the vblank path stays free of frame-sized work.
  void on_vblank(const Vgpu& v, const display::VblankReport& r);
  // The vGPU's RAM was replaced (Vgpu::replace_ram): copies read `ram` from now on, and after
  // a layout change the next primary answer copies again. Shadows made keep their bytes and ids.
  void set_ram(std::weak_ptr<const GuestRam> ram, bool layout_changed) {
    ram_ = std::move(ram);
    owed_ = owed_ || layout_changed;
  }
  // A copy is due before the next primary answer.
  bool owed() const { return owed_ || !front_; }
  // ... or before an answer about `p`, the plane as decoded now: also when the front is of
  // another surface or geometry (a change no vblank has noted yet: the answer must describe `p`).
  bool owed(const decode::PlaneInfo& p) const;

  // A copy in three steps, so that only begin and end need the vGPU's lock:
  // begin reserves a shadow no consumer holds (a new memfd when the geometry changed) and notes
  // the guest surface being read; run copies (no shared state: any thread, without the lock);
  // end makes the shadow the front. nullopt from begin: both shadows held (copy_skipped) or no
  // memfd could be made (copy_failures).
  struct CopyJob {
    size_t slot = 0;
    Gma base{};
    std::shared_ptr<const GuestRam> ram;
    std::vector<Extent> src;
    uint64_t bytes = 0;  // the plane's size: the rest of the shadow is zeroed, not copied
    std::byte* dst = nullptr;
    uint64_t ns = 0;  // set by run
    bool ok = false;  // set by run
  };
  std::optional<CopyJob> begin_capture(const decode::PlaneInfo& p);
  static void run(CopyJob& job);
  void end_capture(const CopyJob& job);
  // The guest surface at `base` is being copied (the copy-mode HoldGate asks).
  bool copying(Gma base) const { return copying_ && *copying_ == base; }
  bool copying() const { return copying_.has_value(); }
  // All three at once, for callers that own the vGPU outright (tests, tools).
  bool capture(const decode::PlaneInfo& p);

  // A query of the plane (Exporter::query's contract, pins included): its presence from
  // `decoded`, the format, geometry and id of the front shadow. Copies nothing: call after a
  // capture when owed(); with no shadow yet it is refused (Io).
  Expected<GfxPlaneInfo, ExportError> query(ConsumerKey who, const GfxPlaneInfo& req, const DecodeResult& decoded);
  // A read-only descriptor of a shadow (one extent); counts a reference for `who`.
  Expected<ExportedBuffer, ExportError> get(ConsumerKey who, uint32_t id);
  // As Exporter::release(): NoSuchBuffer unless `who` holds a reference on it.
  Expected<uint32_t, ExportError> release(ConsumerKey who, uint32_t id);
  void forget(ConsumerKey who) { holds_.forget(who); }
  uint32_t references_by(ConsumerKey who) const { return holds_.held_by(who); }
  bool contains(uint32_t id) const { return find(id) != nullptr; }

  uint32_t front_id() const { return front_ ? slots_[*front_].id : 0; }
  uint64_t budget() const { return budget_; }
  uint64_t shadow_bytes() const { return slots_[0].map.size() + slots_[1].map.size(); }  // host memory held now
  const TearingCounters& counters() const { return c_; }

 private:
  struct Slot {
    uint32_t id = 0;  // 0 until it has a memfd; a new memfd gets a new id
    UniqueFd fd;
    Mapping map;
    uint32_t fourcc = 0, width = 0, height = 0, stride = 0;
    uint64_t modifier = 0, size = 0;
    Gma base{};            // the guest surface of the frame it holds
    bool copying = false;  // reserved by a CopyJob
    bool shows(const decode::PlaneInfo& p) const;  // has a memfd of p's format and geometry
  };
  Slot* pick(const decode::PlaneInfo& p);
  const Slot* find(uint32_t id) const;
  // Gives s a memfd for p's format and geometry, within the budget; false (counted) if it cannot.
  bool fit(Slot& s, const decode::PlaneInfo& p);

  std::weak_ptr<const GuestRam> ram_;
  uint64_t budget_;
  hw::Plane plane_;
  std::array<Slot, 2> slots_;
  std::optional<size_t> front_;  // the slot with the newest frame
  Holds holds_;
  IdSequence ids_;
  std::optional<hw::Pipe> pipe_;  // the first active pipe at the last vblank
  uint32_t idle_ = 0;             // vblanks since the plane's last flip, saturating
  bool owed_ = false;             // the screen changed since the front shadow was copied
  std::optional<Gma> copying_;    // the guest surface a CopyJob reads
  TearingCounters c_;
};

}  // namespace vgd::exporter
