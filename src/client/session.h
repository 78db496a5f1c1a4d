// One opened vGPU: plane queries with the VFIO semantics, buffers mapped and cached by id, and
// refresh events. Obtained from Connection::open(); see client/client.h for the whole picture.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "client/error.h"
#include "client/mapped_buffer.h"
#include "events/event_value.h"
#include "proto/packet.h"
#include "proto/plane_abi.h"
#include "proto/wire.h"
#include "util/unique_fd.h"

namespace vgd::client {

namespace detail {
class Channel;
class HeldBuffer;
struct SessionLink;
}

using events::EventCounts;

// QEMU keeps the 5 most recently used buffers (hw/vfio/display.c): a guest flipping among 2–3
// buffers plus a cursor then never fetches again in steady state.
inline constexpr size_t kDefaultCacheSize = 5;

// A query's answer means "nothing on this plane" (how QEMU reads it: zero format or size).
constexpr bool no_plane(const proto::GfxPlaneInfo& p) { return p.drm_format == 0 || p.size == 0; }

struct SessionOptions {
  size_t cache_size = kDefaultCacheSize;  // at least 1; only for vGPUs without tearing control
};

// What changed on a plane since the session last asked (docs/protocol.md §3.9).
struct PlaneDamage {
  bool hinted = false;  // false: the guest gives no hints for this plane; compare pixels
  bool whole = false;   // the whole plane changed
  std::vector<proto::DamageRect> rects;  // otherwise these (none: nothing changed)
};

struct SessionCounters {
  uint64_t cache_hits = 0;    // buffer() answered from the cache (or a buffer the caller still held)
  uint64_t cache_misses = 0;  // buffer() fetched with GetBuffer
  uint64_t releases = 0;      // Release requests sent (evictions, release(), dropped buffers)
};

// Move-only; not thread-safe (one thread per Connection and its sessions). Destroying it closes
// it. Buffers handed out stay mapped after eviction or close, until their last shared_ptr goes.
//
// How long buffers keep their daemon reference depends on the vGPU's tearing control
// (tearing(), from the List entry at open; docs/protocol.md §4):
//  * None: the cache keeps the cache_size most recently used buffers referenced and releases
//    what it evicts, as QEMU does; a buffer the caller holds past its eviction stays mapped.
//  * Hold, Copy (any mode but None): nothing is kept for the caller. A buffer's reference is
//    returned (Release) as soon as the caller drops its last shared_ptr to it, so map a frame,
//    read it and let it go: under Hold a kept reference makes the guest's next flip-done wait
//    (up to 2 vblanks per frame), under Copy a kept shadow is not rewritten (frames are
//    skipped; both kept, the picture freezes). The cache only remembers buffers the caller
//    still holds, so asking again for one of them takes no new reference. Drop buffers on the
//    connection's thread, since dropping one sends a request; one dropped after the session
//    closed (Close returned every reference) sends nothing.
//  * Plane copies (ids from kFirstCopyId: what an untrusted connection always gets) are treated
//    as under Copy, whatever the vGPU's mode.
class VgpuSession {
 public:
  VgpuSession(VgpuSession&&) noexcept;
  VgpuSession& operator=(VgpuSession&&) noexcept;
  ~VgpuSession();

  uint32_t id() const { return id_; }
  bool is_open() const { return ch_ != nullptr; }
  proto::Tearing tearing() const { return tearing_; }
  // Ids of host copies of planes (shadow frames: tearing = copy, untrusted connections;
  // docs/protocol.md §3.5) start here; they are always released when the caller drops them.
  static constexpr uint32_t kFirstCopyId = 0x40000000;
  // Buffers are released when the caller drops them (tearing control), not kept in the cache.
  bool releases_on_drop() const { return tearing_ != proto::Tearing::None; }

  // PROBE|DMABUF: succeeds when the daemon exports buffers (always, today).
  Result<Done> probe();
  // Plane type proto::kPlanePrimary / kPlaneCursor / kPlaneOverlay (the sprite). A disabled
  // plane is success with no_plane(); an invalid or faulting guest plane is an Invalid / Fault
  // error whose message says why. dmabuf_id names the buffer for buffer().
  Result<proto::GfxPlaneInfo> query(uint32_t plane_type);

  // The buffer with this id, mapped: from the cache (moved to the front) or fetched with
  // GetBuffer, which takes one daemon reference. Inserting beyond cache_size evicts the least
  // recently used entry and releases its reference. With releases_on_drop() the reference is
  // the returned buffer's, released when its last shared_ptr goes (see the class comment). The
  // daemon lets a connection hold 64 references per vGPU (TooMany beyond: drop some).
  Result<std::shared_ptr<const MappedBuffer>> buffer(uint32_t id);
  // The same for a query's answer, and a cached entry whose format or geometry no longer match
  // the query (an id the daemon gave again after its numbering wrapped) is dropped and fetched
  // again.
  Result<std::shared_ptr<const MappedBuffer>> buffer(const proto::GfxPlaneInfo& plane);
  // Drops the id from the cache and returns its reference (back-pressure: "done with this
  // frame"); a buffer of that id the caller still holds stays mapped but will send nothing when
  // dropped. NoEntry when this client holds none.
  Result<Done> release(uint32_t id);
  // Most recently used first; with releases_on_drop(), only buffers the caller still holds.
  std::vector<uint32_t> cached_ids() const;

  // Creates a non-blocking eventfd and hands it to the daemon, which adds event values to it
  // at vblank when planes changed. Replaces any earlier one.
  Result<Done> enable_events();
  // Back to polling (poll_events()); closes the eventfd.
  Result<Done> disable_events();
  // For the caller's own poll/epoll loop: the eventfd (-1 before enable_events()) and the
  // connection's socket (-1 once closed or broken), which becomes readable only when the daemon
  // goes away. When either is readable, wait_events(0ms) reads the events or reports the loss.
  int event_fd() const { return eventfd_.get(); }
  int connection_fd() const;
  // Waits up to `timeout` for the eventfd and reads it: the events since the last read, or all
  // zero on timeout. Invalid when events are not enabled; Protocol when the daemon hung up
  // (the socket is watched too: a dead daemon never signals, and waiting on would hide it).
  Result<EventCounts> wait_events(std::chrono::milliseconds timeout);
  // While masked the daemon neither signals nor accumulates anything for this session.
  Result<Done> mask();
  Result<Done> unmask();
  // The events accumulated since the last poll (for a session without an eventfd; with one,
  // whatever the eventfd's counter refused because it was full). Also learns last_event_ns().
  Result<EventCounts> poll_events();
  // CLOCK_MONOTONIC (std::chrono::steady_clock on Linux) time of the vblank the newest event
  // reported, as of the last poll_events(); 0 before. Wake-up time minus this = delivery latency.
  uint64_t last_event_ns() const { return last_event_ns_; }

  // Damage hints for a plane (kPlanePrimary / kPlaneOverlay; the cursor has none): cleared by
  // asking. A daemon without GetDamage (ServerInfo::features) answers "no hints" without a
  // request. Ask before querying and reading the plane, so the picture is at least as new as
  // the damage.
  Result<PlaneDamage> damage(uint32_t plane_type);

  // Returns every reference this session holds and stops its events; the session is then
  // closed (is_open() false). Closing a closed session succeeds.
  Result<Done> close();

  const SessionCounters& counters() const;

 private:
  uint64_t last_event_ns_ = 0;
  friend class Connection;
  // An entry holds the reference (kept) or, with releases_on_drop(), watches the caller's (held).
  struct CacheEntry {
    uint32_t id = 0;
    std::shared_ptr<const MappedBuffer> kept;
    std::weak_ptr<detail::HeldBuffer> held;
    std::shared_ptr<const MappedBuffer> get() const;  // null once the caller let a held one go
  };

  VgpuSession(std::shared_ptr<detail::Channel> ch, uint32_t id, proto::Tearing tearing, SessionOptions opts);
  Result<proto::Packet> call(proto::Packet p);
  Result<Done> call_empty(proto::MsgType type);
  Result<std::shared_ptr<const MappedBuffer>> fetch(uint32_t id);
  Result<Done> send_release(uint32_t id);
  void evict_beyond_capacity();
  std::vector<CacheEntry>::iterator find(uint32_t id);

  std::shared_ptr<detail::Channel> ch_;  // null once closed or moved from
  uint32_t id_ = 0;
  proto::Tearing tearing_ = proto::Tearing::None;
  SessionOptions opts_;
  std::vector<CacheEntry> cache_;  // most recently used first
  UniqueFd eventfd_;
  // Shared (weakly) with the buffers handed out under releases_on_drop(); holds the counters.
  // Null only in a moved-from session.
  std::shared_ptr<detail::SessionLink> link_;
};

}  // namespace vgd::client
