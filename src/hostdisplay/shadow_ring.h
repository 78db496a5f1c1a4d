// A small ring of shadow framebuffers for one host plane (docs/direct-flip.md, Shadow
// framebuffers): CPU-writable buffers of one size and format, one on screen, at most one
// committed and waiting for its vblank, the others free to refill. The ring never hands out the
// buffer being scanned out or the one about to be, so a refill cannot tear the picture.
//
// Each buffer remembers which guest frame it holds (its age, as EGL_EXT_buffer_age counts it),
// and the ring the damage of the last frames: a buffer last filled k frames ago needs the union
// of the damage of those k frames, not only the newest one's.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "hostdisplay/host_display.h"
#include "hostdisplay/shadow_damage.h"
#include "util/expected.h"

namespace vgd::hostdisplay {

class ShadowRing {
 public:
  static constexpr uint32_t kDefaultBuffers = 3;

  // count buffers of width × height in fourcc (linear) from display.create_buffer().
  static Expected<ShadowRing, std::string> create(HostDisplay& display, uint32_t width, uint32_t height,
                                                  uint32_t fourcc, uint32_t count = kDefaultBuffers);

  // A new guest frame, which differs from the previous one in `damage` (whole when the guest
  // gave no hints or its geometry changed). Every frame must be noted, shown or not: a skipped
  // frame's damage is still missing from the buffers.
  void note_frame(const Region& damage);

  struct Acquired {
    uint32_t index = 0;
    BufferRef buffer;
    Region refill;                // what to refill to bring it to the newest frame
    std::optional<uint32_t> age;  // frames it lags behind the newest; nullopt: contents unknown
  };
  // The buffer to fill next: neither on screen nor pending, the one after the last one handed
  // out, or the last one abandoned (so buffers take turns). Nothing when every buffer is on screen, pending or being filled
  // (the engine shows this frame later; its damage is kept). The buffer is "filling" until
  // submitted() or abandon().
  std::optional<Acquired> acquire();
  // The acquired buffer was filled and committed: pending until its flip latches.
  void submitted(uint32_t index);
  // The acquired or submitted buffer will not be shown (a refused commit, a failed refill): free
  // again, its contents unknown.
  void abandon(uint32_t index);
  // A flip latched on the plane showing fb_id: ours goes on screen and the one it replaces is
  // free. Another framebuffer (an import, the plane off: fb_id 0) frees ours that was on screen.
  void latched(uint32_t fb_id);
  // Every buffer's contents are unknown (geometry or format of the guest plane changed).
  void invalidate();

  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  const BufferRef& buffer(uint32_t index) const { return slots_[index].buffer; }
  std::optional<uint32_t> on_screen() const;
  std::optional<uint32_t> pending() const;
  uint64_t frame() const { return frame_; }

 private:
  enum class State : uint8_t { Free, Filling, Pending, OnScreen };
  struct Slot {
    BufferRef buffer;
    State state = State::Free;
    uint64_t filled_frame = 0;  // the frame it holds once submitted; 0: nothing known
    uint64_t filling_frame = 0;
  };
  explicit ShadowRing(std::vector<Slot> slots) : slots_(std::move(slots)) {}
  std::optional<uint32_t> find(State s) const;

  std::vector<Slot> slots_;
  uint64_t frame_ = 0;              // frames noted so far; frame n's damage is vs frame n - 1
  std::deque<Region> history_;      // damage of frames frame_ - history_.size() + 1 .. frame_
  uint32_t next_ = 0;               // where acquire() starts looking
};

}  // namespace vgd::hostdisplay
