// The virtual monitor's state and its two pure steps (docs/direct-flip.md, Virtual monitor):
// checking an atomic update against the committed state the way KMS does, and composing what a
// CRTC scans out from its planes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "fb/image.h"
#include "hostdisplay/host_display.h"
#include "util/expected.h"
#include "util/mapping.h"

namespace vgd::hostdisplay::vmon {

// Each CRTC has exactly these planes, in this order (also their zpos), and resources lists them
// CRTC by CRTC: plane k of CRTC i is resources.planes[i * kPlanesPerCrtc + k].
enum PlaneSlot : size_t { kPrimary = 0, kOverlay = 1, kCursor = 2, kPlanesPerCrtc = 3 };

// Everything one CRTC shows: what KMS keeps in a CRTC state and its planes' states.
struct CrtcConfig {
  bool active = false;
  std::optional<Mode> mode;            // a mode set (possibly with active off, like DPMS)
  uint32_t connector_id = 0;           // the connector routed to it, 0 none
  std::array<PlaneState, kPlanesPerCrtc> planes{};  // buffer null: plane off
};

// Memory a virtual monitor's plane reads: its own (created, writable) or a read-only mapping of
// someone else's fd (imported). Either way bytes() starts at plane 0's offset.
class VmBuffer final : public Buffer {
 public:
  VmBuffer(const BufferLayout& layout, uint32_t fb_id, uint64_t owner, Mapping map, size_t start, bool writable)
      : Buffer(layout, fb_id), owner_(owner), map_(std::move(map)), start_(start), writable_(writable) {}

  std::span<std::byte> pixels() override { return writable_ ? map_.bytes().subspan(start_) : std::span<std::byte>{}; }
  std::span<const std::byte> bytes() const override { return map_.bytes().subspan(start_); }
  uint64_t owner() const { return owner_; }  // the monitor that made it

 private:
  uint64_t owner_;
  Mapping map_;
  size_t start_;
  bool writable_;
};

// The outcome of a check: every CRTC's configuration after the update and which CRTCs it
// includes (bit i: CRTC index i), changes the mode of (active, mode, routing), or flips async.
struct Checked {
  std::vector<CrtcConfig> next;
  uint32_t touched = 0;
  uint32_t modesets = 0;
};

// Checks `state` with `flags` against the committed configuration of every CRTC (indexed as
// res.crtcs) like atomic KMS, with the kernel's errno on refusal. `owner` is the monitor's tag
// on its buffers. Pure: EBUSY (which depends on time) is the caller's.
Expected<Checked, CommitError> check_update(const Resources& res, std::span<const CrtcConfig> current,
                                            const State& state, uint32_t flags, uint64_t owner);

// What a CRTC scans out: a black frame of its mode's size with its planes blended over it in
// zpos order, each clipped to the screen; null for a CRTC that is off or has no mode. A plane
// that cannot be read is left out and counted in `unreadable`.
std::shared_ptr<const fb::Image> compose_crtc(const CrtcConfig& cfg, uint64_t* unreadable);

}  // namespace vgd::hostdisplay::vmon
