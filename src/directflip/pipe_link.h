// One vGPU pipe put on one host output (docs/direct-flip.md, The engine). At each guest vblank
// that latched a plane of the pipe, its planes are decoded and planned (shadow_plan.h) against the
// host planes chosen at assignment (assign.h), and one atomic state is committed with
// NONBLOCK | PAGE_FLIP_EVENT, never ALLOW_MODESET: the primary as an import of the guest's pages
// or a refilled shadow, the sprite on the overlay plane or composed, the cursor on the cursor
// plane. A guest mode the host plane cannot scale to is composed and scaled into a shadow.
// A commit refused with EBUSY waits for the page-flip event of the one before; only the newest
// waits (a mailbox). The guest's flip-done comes when the host has shown the flip (a
// FlipDoneGate), within kMaxHoldVblanks guest vblanks. Where the host has vblank events, the
// guest's vblank timer runs on the host CRTC's grid, a lead before each host vblank (clock_lock.h).
//
// Threads. Every call, including the constructor and destructor, is made under whatever
// serialises the vGPU (the daemon's device lock): the vGPU calls on_vblank / on_pipe_state /
// the gate under it, and whoever polls the HostDisplay's event_fd takes that lock before
// handing each FlipEvent of this link's CRTC to on_flip() and each VblankEvent to on_host_vblank(). One HostDisplay may carry several
// links (of several vGPUs): its owner dispatches and routes events by crtc_id.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "directflip/assign.h"
#include "directflip/clock_lock.h"
#include "directflip/mapping_cache.h"
#include "directflip/plane_feed.h"
#include "hostdisplay/shadow_plan.h"
#include "display/display_engine.h"
#include "hostdisplay/host_display.h"
#include "vgpu/vgpu.h"

namespace vgd::directflip {

// A guest that out-runs a slow host still gets flip-done this many guest vblanks after its flip.
inline constexpr uint32_t kMaxHoldVblanks = 3;

struct LinkCounters {
  uint64_t frames = 0;            // guest frames the link built a state for
  uint64_t commits = 0;           // commits the host accepted
  uint64_t imports = 0;           // planes given the guest's pages without a copy
  uint64_t refills = 0;           // planes given a refilled shadow (copy or conversion)
  uint64_t scaled_fallbacks = 0;  // frames composed and scaled: the host plane could not scale
  uint64_t bytes_copied = 0;      // into shadows
  uint64_t busy_deferrals = 0;    // commits refused with EBUSY, retried at the next page flip
  uint64_t superseded = 0;        // deferred states replaced by a newer one before they went out
  uint64_t refused = 0;           // commits refused otherwise (logged)
  uint64_t failed_frames = 0;     // frames that could not be decoded or fed (logged)
  uint64_t flips_shown = 0;       // page-flip events of this link's commits
  uint64_t async_commits = 0;     // guest async primary flips committed async (kAsync): shown at once
  uint64_t async_fallbacks = 0;   // ... committed as ordinary flips instead: shown at the host's next vblank
  uint64_t surface_maps = 0;      // guest surfaces mapped for a refill or composition (kept across frames)
  // One clock (clock_lock.h): how long before each host vblank the guest's vblank ticks (0: the
  // guest runs its own clock), host vblank events heard, and re-phasings of the guest's timer.
  uint64_t lead_us = 0;
  uint64_t host_vblanks = 0;
  uint64_t clock_aligns = 0;
};

class PipeLink final : private DisplayObserver, private display::FlipDoneGate {
 public:
  // Lights the output first when `planes.needs_bringup` (one commit with ALLOW_MODESET, the
  // only one this link makes), then installs itself on the vGPU: its display observer (refused
  // when that slot is taken) and one of its flip-done gates, beside tearing control's if that is
  // on (the guest's flip-done then waits for both). The first guest vblank puts the pipe up.
  static Expected<std::unique_ptr<PipeLink>, std::string> create(Vgpu& vgpu, hw::Pipe pipe,
                                                                 hostdisplay::HostDisplay& display,
                                                                 const OutputPlanes& planes);
  // Planes off (the CRTC stays lit), gate and observer removed: flips only this link held
  // complete now, and the vGPU completes flips at its own vblanks again (or when its other
  // gates allow).
  ~PipeLink();
  PipeLink(const PipeLink&) = delete;
  PipeLink& operator=(const PipeLink&) = delete;

  // A page-flip event of this link's CRTC (others are ignored).
  void on_flip(const hostdisplay::FlipEvent& e);
  // A vblank event of this link's CRTC (others are ignored): the guest's vblank follows it.
  void on_host_vblank(const hostdisplay::VblankEvent& e);

  const LinkCounters& counters() const { return c_; }
  const OutputPlanes& planes() const { return planes_; }
  // The host cursor plane as the newest commit left it: where the guest's cursor is on the
  // output (a viewer that does not draw the cursor plane cannot show it); nullopt when off, or
  // composed into the primary (scaled fallback), or the output has no cursor plane.
  std::optional<hostdisplay::PlaneState> host_cursor() const;
  hw::Pipe pipe() const { return pipe_; }
  // Whose clock the guest's vblank runs on: the host's, or its own (why(): the host's answer).
  const ClockLock& clock() const { return clock_; }

 private:
  // One state for the host, and what it carries.
  struct Frame {
    hostdisplay::State state;
    std::vector<std::pair<PlaneFeed*, Fed>> shadows;  // ring buffers to submit or abandon
    std::array<uint64_t, 2> carries{};                // guest latches of primary, sprite it shows
    uint64_t seq = 0;
    uint64_t bytes = 0;
    uint32_t imports = 0, refills = 0;
    bool scaled_fallback = false;
    bool off = false;  // the pipe's planes off
  };

  PipeLink(Vgpu& vgpu, hw::Pipe pipe, hostdisplay::HostDisplay& display, const OutputPlanes& planes);

  void on_vblank(const display::VblankReport& r) override;
  void on_pipe_state(hw::Pipe p, bool active) override;
  bool may_complete(const display::HeldFlip& f) override;
  void hold_ended(const display::HeldFlip&, bool) override {}
  // An async guest flip of the primary goes to the host at once (pipe_link_async.cpp).
  void on_async_flip(hw::Pipe p, hw::Plane pl) override;
  // Commits the primary of f alone with kAsync when the host flips async and only the primary's
  // buffer changed since the newest commit (what KMS allows); false: f was left as it was.
  bool commit_async(Frame& f);
  bool only_primary_buffer_changes(const Frame& f) const;

  // The guest pipe as it is now, as a state for the host (nullopt: logged and counted).
  std::optional<Frame> build(const display::VblankReport::Pipe& r);
  // The primary (and sprite) at the plane's own size, or composed into the host mode's size.
  bool feed_pipe(Frame& f, const decode::PlaneInfo& primary, const decode::PlaneInfo* sprite,
                 const decode::PlaneInfo* cursor, const display::VblankReport::Pipe& r, bool fits);
  // The cursor on the cursor plane, where the primary's scaling puts it (null: off).
  bool feed_cursor(Frame& f, const decode::PlaneInfo* cursor, const decode::PlaneInfo& primary);
  Expected<Fed, std::string> feed_one(PlaneFeed& feed, const decode::PlaneInfo& p, const hostdisplay::ShadowPlan& plan,
                                      const hostdisplay::Region& damage);
  // The CPU view of p's pages, kept across frames (mapping_cache.h).
  Expected<std::shared_ptr<const fb::PlaneView>, std::string> view_of(const decode::PlaneInfo& p);
  hostdisplay::PlaneState place(uint32_t plane, const Fed& f, int32_t x, int32_t y, uint32_t w, uint32_t h) const;
  // The primary showing a black buffer of the mode's size (empty if none could be made).
  std::vector<hostdisplay::PlaneState> black();
  Frame planes_off();
  // Commits f now, or keeps it for the next page-flip event when one is due or it got EBUSY.
  void submit(Frame f);
  void accepted(Frame f);  // the host took f's commit: its books
  void release(Frame& f);  // its shadows will not be shown
  hostdisplay::PlaneState off(uint32_t plane) const { return {plane, 0, nullptr, 0, 0, 0, 0, 0, 0, 0, 0, {}}; }

  Vgpu* vgpu_;
  hw::Pipe pipe_;
  hostdisplay::HostDisplay* display_;
  OutputPlanes planes_;
  PlaneFeed primary_, overlay_, cursor_;
  MappingCache views_;  // of the guest surfaces refilled or composed from
  hostdisplay::BufferRef black_;
  // Guest sizes other than the mode's, and whether the primary plane scales them (TEST_ONLY).
  std::map<std::pair<uint32_t, uint32_t>, bool> scales_;  // guest size -> the plane scales it
  bool can_import_ = true;  // until the display refuses an import of guest RAM
  bool shown_once_ = false;  // a state went out since the pipe (or the link) came up
  std::array<uint64_t, 2> latches_{};  // guest latches seen of primary, sprite
  std::array<uint64_t, 2> shown_{};    // ... of which the host has shown
  std::deque<Frame> in_flight_;        // committed with an event, oldest first
  std::optional<Frame> deferred_;      // the newest state, waiting for a page-flip event
  std::map<uint32_t, hostdisplay::PlaneState> committed_;  // each plane as the newest commit left it
  uint64_t next_seq_ = 1;
  ClockLock clock_;
  LinkCounters c_;
};

}  // namespace vgd::directflip
