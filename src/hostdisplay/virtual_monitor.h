// A software display behind the host-display interface (docs/direct-flip.md, Virtual monitor):
// outputs "Virtual-1", "Virtual-2", ..., each a connector with one CRTC and a primary, an
// overlay and a cursor plane; atomic checks with the kernel's errnos; its own vblank clock per
// active CRTC; and a scan-out image per CRTC, recomposed when a commit latches, that viewers can
// watch. Direct flip runs on it, and is tested, on hosts without a GPU.
//
// Vblank events (watch_vblanks): one per vblank of a watched, lit CRTC, at its clock's time,
// with its vblank count; at a vblank it comes before the page-flip events latched there. On the
// real clock a late dispatch counts the vblanks it slept through and delivers one event, the
// last (its sequence jumps), as KMS does for a re-queued event that missed.
//
// Threads. One owner thread makes the HostDisplay calls (resources, refresh, create_buffer,
// import, commit, watch_vblanks, dispatch), as with a DRM fd. The clock calls (advance_*, dispatch_timer) may
// come from another thread: with `clock_thread` the monitor runs its own. scanout(),
// vblank_count(), frames() and counters() may be called from any thread. The frame listener runs
// on whichever thread latched the frame (the clock's, or the owner's for a commit that latches at
// once), without the monitor's lock: it may call scanout() but must not commit.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "fb/image.h"
#include "hostdisplay/host_display.h"
#include "hostdisplay/virtual_state.h"
#include "util/thread_annotations.h"
#include "util/unique_fd.h"

namespace vgd::hostdisplay {

// 1920x1080, 1280x720 and 1024x768 at 60 Hz, the first preferred.
std::vector<Mode> default_virtual_modes();

struct VirtualMonitorOptions {
  uint32_t outputs = 2;
  std::vector<Mode> modes = default_virtual_modes();  // every output's, preferred first
  // Output i < size: its own preferred mode, listed before `modes` (which keep the rest, without
  // a duplicate of it).
  std::vector<Mode> preferred;
  // Virtual: time moves only through advance_to() (tests). Real: CLOCK_MONOTONIC, vblanks when
  // timer_fd() is readable and dispatch_timer() runs, or on the monitor's own thread.
  enum class Clock : uint8_t { Virtual, Real } clock = Clock::Real;
  uint64_t start_ns = 0;      // the virtual clock's time at creation
  bool clock_thread = false;  // Real only: run the vblank clock on a thread of its own
};

class VirtualMonitor final : public HostDisplay {
 public:
  static Expected<std::unique_ptr<VirtualMonitor>, std::string> create(VirtualMonitorOptions options = {});
  ~VirtualMonitor() override;

  std::string name() const override { return "virtual"; }
  const Resources& resources() const override { return res_; }
  Expected<bool, std::string> refresh() override { return false; }  // nothing is ever plugged
  Expected<BufferRef, std::string> create_buffer(uint32_t width, uint32_t height, uint32_t fourcc) override;
  Expected<BufferRef, std::string> import(int fd, const BufferLayout& layout) override;
  Expected<bool, CommitError> commit(const State& state, uint32_t flags, uint64_t user_data = 0) override;
  Expected<bool, std::string> watch_vblanks(uint32_t crtc_id, bool on) override;
  int event_fd() const override { return event_fd_.get(); }
  using HostDisplay::dispatch;
  void dispatch(const EventHandlers& handlers) override;
  CommitCounters counters() const override;

  // --- The vblank clock ---
  uint64_t now_ns() const;
  // Virtual clock: fires every vblank due up to t, in time order, each at its exact time.
  void advance_to(uint64_t t);
  void advance_by(uint64_t d) { advance_to(now_ns() + d); }
  // Virtual clock: jumps to the next vblank of any active CRTC; false when none is active.
  bool advance_to_next_vblank();
  // Real clock without its own thread: readable when a vblank is due; then call dispatch_timer().
  int timer_fd() const { return timer_fd_.get(); }
  void dispatch_timer();
  // Vblanks of a CRTC since creation (they stop while it is off); 0 for an unknown id.
  uint64_t vblank_count(uint32_t crtc_id) const;

  // --- What the monitor shows ---
  struct Frame {
    std::shared_ptr<const fb::Image> image;  // the mode's size, 0xAARRGGBB; null when the CRTC is off
    uint64_t number = 0;                     // grows each time the image changes
  };
  Frame scanout(uint32_t crtc_id) const;
  // A plane as the screen shows it (the state that latched; a cursor's hotspot is kept there,
  // where a host would draw its pointer); nullopt for an unknown plane.
  std::optional<PlaneState> shown_plane(uint32_t plane_id) const;
  // Called with the CRTC and frame number after every new frame (see Threads above).
  void set_frame_listener(std::function<void(uint32_t crtc_id, uint64_t number)> listener);
  // Planes left out of a frame because their memory could not be read (0 unless the monitor
  // has a bug: the check refuses what composition cannot show).
  uint64_t unreadable_planes() const;

 private:
  struct Update {
    vmon::CrtcConfig cfg;
    bool event = false;
    uint64_t user_data = 0;
  };
  struct Crtc {
    vmon::CrtcConfig committed;  // what the next commit is checked against
    vmon::CrtcConfig screen;     // what has latched
    std::deque<Update> pending;  // committed, waiting for vblanks, oldest first
    uint64_t period_ns = 0, next_vblank_ns = 0;  // next 0: no vblanks (off)
    uint64_t vblanks = 0;
    bool watched = false;  // vblank events wanted
    Frame frame;
  };

  VirtualMonitor(VirtualMonitorOptions options, Resources res, UniqueFd event_fd, UniqueFd timer_fd);
  void clock_loop();

  Crtc* crtc(uint32_t crtc_id) REQUIRES(mu_);
  const Crtc* crtc(uint32_t crtc_id) const REQUIRES(mu_);
  uint64_t clock_now() const REQUIRES(mu_);
  void latch(size_t i, const Update& u, uint64_t at_ns) REQUIRES(mu_);
  void queue_event(std::variant<FlipEvent, VblankEvent> e) REQUIRES(mu_);
  void fire_due(uint64_t now) REQUIRES(mu_);
  uint64_t earliest_vblank() const REQUIRES(mu_);
  void rearm() REQUIRES(mu_);
  void sync_resources(size_t i) REQUIRES(mu_);
  // Calls the frame listener for the frames latched since the last call, without the lock.
  void publish_frames() EXCLUDES(mu_);

  const VirtualMonitorOptions options_;
  const uint64_t owner_tag_;  // marks this monitor's buffers
  // Read and changed by the owner thread only (changes made under mu_, which the clock's
  // reads of committed state need).
  Resources res_;
  UniqueFd event_fd_, timer_fd_, stop_fd_;

  mutable Mutex mu_;
  std::vector<Crtc> crtcs_ GUARDED_BY(mu_);
  uint64_t virtual_now_ GUARDED_BY(mu_) = 0;
  uint32_t next_fb_id_ GUARDED_BY(mu_) = 0;
  std::deque<std::variant<FlipEvent, VblankEvent>> events_ GUARDED_BY(mu_);
  CommitCounters counters_ GUARDED_BY(mu_);
  uint64_t unreadable_ GUARDED_BY(mu_) = 0;
  std::vector<std::pair<uint32_t, uint64_t>> new_frames_ GUARDED_BY(mu_);
  std::shared_ptr<const std::function<void(uint32_t, uint64_t)>> listener_ GUARDED_BY(mu_);
  std::thread clock_thread_;  // last: started after everything else is set up
};

}  // namespace vgd::hostdisplay
