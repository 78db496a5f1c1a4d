// A host display that guest planes can be put on (docs/direct-flip.md): outputs (connector +
// CRTC), planes with the formats and modifiers they scan out, buffers they can show, and atomic
// state that is tested, then committed, with a page-flip event per CRTC. Two backends implement
// it: KMS on libdrm (a card opened as master, or a DRM lease fd) and a virtual monitor (software,
// with its own vblank clock) for hosts without a GPU. Users see only this interface.
//
// The vocabulary is KMS's: object ids, 16.16 source rectangles, signed CRTC positions, flags
// TEST_ONLY / NONBLOCK / PAGE_FLIP_EVENT / ALLOW_MODESET / PAGE_FLIP_ASYNC.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "util/expected.h"
#include "util/unique_fd.h"

namespace vgd::hostdisplay {

// A DRM fourcc and a format modifier (0 = linear), as in drm_fourcc.h and hw/formats.h.
struct FormatModifier {
  uint32_t fourcc = 0;
  uint64_t modifier = 0;
  bool operator==(const FormatModifier&) const = default;
};

enum class PlaneType { Primary, Overlay, Cursor };

struct Mode {
  uint32_t width = 0, height = 0;
  uint32_t refresh_mhz = 0;  // vertical refresh in millihertz
  std::string name;          // "1024x768"
  bool preferred = false;
  // The raw timing as KMS gives it (drmModeModeInfo, 68 bytes), so a backend can set exactly a
  // mode it listed; empty on backends without one.
  std::vector<uint8_t> blob;
  bool same_timing(const Mode& o) const { return width == o.width && height == o.height && refresh_mhz == o.refresh_mhz; }
};

struct PlaneInfo {
  uint32_t id = 0;
  PlaneType type = PlaneType::Primary;
  uint32_t possible_crtcs = 0;                 // bit i: CRTC with index i in Resources::crtcs
  std::vector<FormatModifier> formats;         // every pair it scans out (IN_FORMATS, else linear)
  uint32_t zpos = 0;                           // stacking order when known, else by type
  bool supports(FormatModifier f) const;
};

struct CrtcInfo {
  uint32_t id = 0;
  uint32_t index = 0;                          // its bit in possible_crtcs
  bool active = false;
  std::optional<Mode> mode;                    // what it scans out now
};

// A connector and what it shows: the unit a guest pipe is assigned to ("Virtual-1", "HDMI-A-1").
struct OutputInfo {
  uint32_t connector_id = 0;
  std::string name;
  bool connected = false;
  uint32_t crtc_id = 0;                        // the CRTC driving it now, 0 if none
  uint32_t possible_crtcs = 0;
  std::vector<Mode> modes;
};

struct Resources {
  std::vector<OutputInfo> outputs;
  std::vector<CrtcInfo> crtcs;
  std::vector<PlaneInfo> planes;               // only the planes this display may use (a lease's)
  uint32_t cursor_width = 64, cursor_height = 64;  // the largest cursor the device takes
  bool async_page_flip = false;                // DRM_CAP_ASYNC_PAGE_FLIP for atomic commits

  const OutputInfo* output(std::string_view name) const;
  const CrtcInfo* crtc(uint32_t id) const;
  const PlaneInfo* plane(uint32_t id) const;
};

// How a buffer's bytes are laid out: up to 4 planes like AddFB2 (one for every format we use).
struct BufferLayout {
  uint32_t width = 0, height = 0;
  FormatModifier format;
  uint32_t pitch[4] = {};
  uint64_t offset[4] = {};
};

// A buffer a plane can show (a KMS framebuffer id on its GEM handle, or virtual monitor
// memory). Held by shared_ptr: a committed state keeps its buffers alive until a later commit
// replaced them on screen. Destroying the last reference removes the framebuffer.
class Buffer {
 public:
  virtual ~Buffer() = default;
  const BufferLayout& layout() const { return layout_; }
  uint32_t fb_id() const { return fb_id_; }  // KMS FB_ID; the virtual monitor's own numbering
  // CPU-writable bytes for buffers the display allocated (dumb buffers); empty for imports.
  virtual std::span<std::byte> pixels() { return {}; }
  // Readable bytes for the virtual monitor's composition; empty where the CPU cannot read.
  virtual std::span<const std::byte> bytes() const { return {}; }

 protected:
  Buffer(BufferLayout layout, uint32_t fb_id) : layout_(layout), fb_id_(fb_id) {}

 private:
  BufferLayout layout_;
  uint32_t fb_id_;
};
using BufferRef = std::shared_ptr<Buffer>;

// 16.16 fixed point, as KMS's SRC_* properties.
inline constexpr uint32_t fixed16(uint32_t v) { return v << 16; }

// Where a cursor image points, in its buffer's pixels.
struct Hotspot {
  int32_t x = 0, y = 0;
  bool operator==(const Hotspot&) const = default;
};

struct PlaneState {
  uint32_t plane_id = 0;
  uint32_t crtc_id = 0;                        // 0 (with no buffer): the plane off
  BufferRef buffer;                            // null: off
  uint32_t src_x = 0, src_y = 0, src_w = 0, src_h = 0;  // 16.16, inside the buffer
  int32_t crtc_x = 0, crtc_y = 0;              // may be negative (a cursor half off screen)
  uint32_t crtc_w = 0, crtc_h = 0;
  // A cursor's hotspot, for hosts that draw their own pointer over a guest's (virtualized KMS
  // drivers' HOTSPOT_X/Y, Linux 6.8); planes without hotspot properties ignore it. Unset: the
  // plane's hotspot stays as it was.
  std::optional<Hotspot> hotspot = std::nullopt;
};

struct CrtcState {
  uint32_t crtc_id = 0;
  std::optional<bool> active;                  // unset: unchanged
  std::optional<Mode> mode;                    // unset: unchanged (a change needs ALLOW_MODESET)
  std::optional<uint32_t> connector_id;        // route this connector to the CRTC (a modeset)
};

// One atomic update: what is not mentioned keeps its current value, as in KMS.
struct State {
  std::vector<CrtcState> crtcs;
  std::vector<PlaneState> planes;
};

enum CommitFlag : uint32_t {
  kTestOnly = 1u << 0,
  kNonblock = 1u << 1,
  kPageFlipEvent = 1u << 2,  // one event per CRTC in the state, at the vblank it latched
  kAllowModeset = 1u << 3,   // only the daemon's own output bring-up; never from a guest flip
  kAsync = 1u << 4,          // latch at once, without waiting for vblank, where the device can
};

struct CommitError {
  int err = 0;        // errno as the kernel (or the virtual monitor, like it) answers
  std::string what;
};

// A CRTC's page flip completed: the state committed with kPageFlipEvent reached the screen.
struct FlipEvent {
  uint32_t crtc_id = 0;
  uint64_t sequence = 0;                       // the CRTC's vblank counter
  std::chrono::nanoseconds timestamp{};        // CLOCK_MONOTONIC of the vblank
  uint64_t user_data = 0;                      // what the commit passed
};

// A CRTC's vblank, delivered while watch_vblanks() is on for it (docs/direct-flip.md, Vblank
// events): what drives a guest's vblank while its pipe is assigned to that CRTC.
struct VblankEvent {
  uint32_t crtc_id = 0;
  uint64_t sequence = 0;                       // the CRTC's vblank counter, as in FlipEvent
  std::chrono::nanoseconds timestamp{};        // CLOCK_MONOTONIC of the vblank
};

// What dispatch() calls; an empty handler drops its kind of event.
struct EventHandlers {
  std::function<void(const FlipEvent&)> on_flip;
  std::function<void(const VblankEvent&)> on_vblank;
};

// What a commit carried, for the debug counters (and the test that no guest flip modesets).
struct CommitCounters {
  uint64_t tests = 0, commits = 0, refused = 0;
  uint64_t with_allow_modeset = 0, async = 0, events = 0;
};

class HostDisplay {
 public:
  virtual ~HostDisplay() = default;

  virtual std::string name() const = 0;        // "card0", "lease 7 of card0", "virtual"
  // The objects this display may use; refreshed after hotplug by refresh().
  virtual const Resources& resources() const = 0;
  virtual Expected<bool, std::string> refresh() = 0;  // true when something changed

  // A CPU-writable buffer the display scans out (a dumb buffer; linear).
  virtual Expected<BufferRef, std::string> create_buffer(uint32_t width, uint32_t height, uint32_t fourcc) = 0;
  // A buffer on someone else's memory (a dma-buf fd, or a memfd on the virtual monitor), used
  // without a copy. Refused where the device cannot import (no PRIME, a memfd on KMS).
  virtual Expected<BufferRef, std::string> import(int fd, const BufferLayout& layout) = 0;

  // Tests (kTestOnly) or commits one atomic state. A nonblocking commit may be refused with
  // EBUSY while a previous one on the same CRTC has not latched yet.
  virtual Expected<bool, CommitError> commit(const State& state, uint32_t flags, uint64_t user_data = 0) = 0;

  // From now on, every vblank of this (lit) CRTC is delivered as a VblankEvent (on), or no
  // more (off). True when it will be; an error saying why when the device has no vblank events
  // (the caller then ticks from its own timer at the mode's refresh). While the CRTC is off it
  // has no vblanks.
  virtual Expected<bool, std::string> watch_vblanks(uint32_t crtc_id, bool on) = 0;

  // Readable when events are pending; dispatch() then calls the handlers for each (on the
  // caller's thread). Page-flip events of a CRTC come in commit order.
  virtual int event_fd() const = 0;
  virtual void dispatch(const EventHandlers& handlers) = 0;
  // Page flips only (vblank events, if any are watched, are dropped). Derived classes bring it
  // in with `using HostDisplay::dispatch;`.
  void dispatch(const std::function<void(const FlipEvent&)>& on_flip) { dispatch(EventHandlers{on_flip, {}}); }

  virtual CommitCounters counters() const = 0;

  // Leases (docs/direct-flip.md, Leases): a connector, the CRTC that will drive it and planes
  // for that CRTC go to a new DRM lessee (a master of just those objects, in this process or
  // another one the fd is passed to); this display can no longer commit to them. Only a KMS
  // card this process is master of can: elsewhere the answer is EOPNOTSUPP, saying why.
  struct Lease {
    UniqueFd fd;
    uint32_t lessee_id = 0;
  };
  virtual Expected<Lease, CommitError> create_lease(uint32_t connector_id, uint32_t crtc_id,
                                                    std::span<const uint32_t> plane_ids) {
    (void)connector_id, (void)crtc_id, (void)plane_ids;
    return Unexpected(CommitError{EOPNOTSUPP, name() + ": cannot lease outputs (only a KMS card opened as master can)"});
  }
  // The lessee ids of live leases (a lessee that closed its fd has gone).
  virtual Expected<std::vector<uint32_t>, std::string> lessees() const { return std::vector<uint32_t>{}; }
  // Ends a lease: the lessee's fd no longer reaches the objects (its commits fail).
  virtual Expected<bool, std::string> revoke_lease(uint32_t lessee_id) {
    return Unexpected(name() + ": no lessee " + std::to_string(lessee_id));
  }
};

}  // namespace vgd::hostdisplay
