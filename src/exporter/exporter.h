// One vGPU's plane exporter (docs/protocol.md §3.4, §4): plane queries get stable buffer ids,
// get() hands out read-only descriptors of the pages behind an id, release() returns them. Not
// thread-safe: the caller serialises (one per vGPU).
//
// Ids: a query that finds no buffer with the same identity creates one under the next id of
// kBufferIds (increasing; never reused while the buffer is known, and not before the range has
// wrapped). The identity covers every page: a remap of any page is a new buffer, never stale
// content.
//
// References are per consumer (ConsumerKey): get() adds one for its consumer, release() returns
// one of that consumer's, forget() all of them. A query pins the id it answers for its consumer
// until that consumer gets it, queries the same plane again or is forgotten, so no other
// consumer's release can make the get() that follows fail (upstream GVT's "initial reference",
// per consumer). A buffer neither referenced nor pinned is idle: it stays known under its id,
// and the idle ones beyond Options::idle_capacity are dropped least recently used first.
#pragma once

#include <concepts>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "decode/plane.h"
#include "exporter/holds.h"
#include "exporter/plane_abi.h"
#include "exporter/query.h"
#include "memory/guest_ram.h"
#include "util/expected.h"
#include "util/unique_fd.h"

namespace vgd::exporter {

// A run of the RAM memfd, in plane byte order.
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  friend bool operator==(const Extent&, const Extent&) = default;
};

// What get() hands a consumer: the plane's bytes are the extents of `fd`, concatenated. Extents
// cover whole pages (their sum is size rounded up to 4 KiB). Owns its descriptors.
struct ExportedBuffer {
  uint32_t id = 0;
  UniqueFd fd;  // the VM's RAM memfd, opened read-only: it cannot be mapped writable
  uint64_t size = 0;
  std::vector<Extent> extents;
  uint32_t fourcc = 0;
  uint64_t modifier = 0;
  uint32_t width = 0, height = 0, stride = 0;
  UniqueFd dmabuf;  // a dma-buf of the extents via /dev/udmabuf; invalid when unavailable
};

struct ExporterOptions {
  size_t idle_capacity = 16;  // known buffers nobody references or pins (at least 1)
  bool udmabuf = true;        // try /dev/udmabuf for a real dma-buf
  std::string udmabuf_path = "/dev/udmabuf";
  uint32_t first_id = kBufferIds.first;  // where numbering starts (tests of the wrap)
};

struct ExporterCounters {
  uint64_t queries = 0;  // every query() call, probes and refusals included
  uint64_t hits = 0;     // an existing id answered
  uint64_t misses = 0;   // a new buffer created
  uint64_t exports = 0;  // successful get()s
  uint64_t releases = 0;
  uint64_t evictions = 0;  // idle buffers dropped by the LRU bound, least recently used first
  uint64_t refused = 0;    // query/get/release calls answered with an error
  uint64_t dmabufs = 0;         // dma-bufs created
  uint64_t dmabuf_failures = 0; // get()s without a dma-buf although udmabuf was asked for
  uint64_t live = 0;            // buffers with an id now
  // GetBuffers refused because the consumer held the most references it may (the daemon's
  // ConsumerPort enforces that limit, over guest buffers and shadow frames, and fills this in).
  uint64_t over_limit = 0;
};

class Exporter {
 public:
  // Does not keep the RAM alive (descriptors already handed out do, on their own).
  explicit Exporter(std::weak_ptr<const GuestRam> ram, ExporterOptions opts = {});

  // A plane query by `who`: the reply per answer_query(), plus the buffer id of a plane that is
  // shown, pinned for `who` (an answer without a buffer unpins its previous one for that plane).
  // `decoded` is decode_plane() for the plane the request names (classify_query() says which).
  Expected<GfxPlaneInfo, ExportError> query(ConsumerKey who, const GfxPlaneInfo& req, const DecodeResult& decoded);
  // The same, decoding only when the request is a valid query: decode(hw::Plane) -> DecodeResult.
  template <class Decode>
    requires std::invocable<Decode&, hw::Plane>
  Expected<GfxPlaneInfo, ExportError> query(ConsumerKey who, const GfxPlaneInfo& req, Decode&& decode) {
    auto target = classify_query(req);
    if (!target) {
      ++c_.queries;
      ++c_.refused;
      return Unexpected(target.error());
    }
    static const DecodeResult kUnused = Unexpected(decode::DecodeError{decode::DecodeError::Kind::NoPlane, {}});
    return target->probe ? query(who, req, kUnused) : query(who, req, decode(target->plane));
  }

  // A new read-only descriptor of a known buffer's pages (and a dma-buf when udmabuf works),
  // whoever asks; counts one reference for `who`, to be returned with release().
  Expected<ExportedBuffer, ExportError> get(ConsumerKey who, uint32_t id);
  // get() in three steps, so that a caller serialising the exporter with its vGPU makes the
  // descriptors (an open() and, with udmabuf, an ioctl over every extent) without that lock:
  // take() counts the reference and describes the buffer (no descriptors yet); open() makes them,
  // on any thread and beside any other call (it reads only what the constructor set); settle()
  // counts the outcome and, when open() failed, returns the reference.
  struct Taken {
    ExportedBuffer buf;
    std::shared_ptr<const GuestRam> ram;  // alive until the descriptors exist
  };
  Expected<Taken, ExportError> take(ConsumerKey who, uint32_t id);
  Expected<bool, ExportError> open(Taken& t) const;
  void settle(ConsumerKey who, const Taken& t, bool opened);
  // Returns one of `who`'s references; answers the references `who` still holds on the buffer.
  // NoSuchBuffer when `who` holds none. The buffer stays known (idle when nobody holds it).
  Expected<uint32_t, ExportError> release(ConsumerKey who, uint32_t id);
  // `who` closed or went away: its references and pins are dropped.
  void forget(ConsumerKey who);

  // vGPU reset or destroy: every buffer, reference and pin is forgotten (get/release answer
  // NoSuchBuffer); numbering goes on where it was, so no old id comes back for another surface.
  // Descriptors already handed out stay valid: they reference the memfd, not this object (nor
  // the GuestRam: they outlive a replaced RAM and the vGPU).
  void invalidate_all();
  // The vGPU's RAM was replaced (Vgpu::replace_ram): later descriptors are of `ram`'s file.
  // A changed layout may show other bytes under the same page lists, so every buffer goes
  // (invalidate_all); with the same layout the ids stay, their pages still right.
  void set_ram(std::weak_ptr<const GuestRam> ram, bool layout_changed);
  // Changes at every invalidate_all().
  uint64_t generation() const { return generation_; }

  bool contains(uint32_t id) const { return objects_.contains(id); }
  uint32_t exports_of(uint32_t id) const;  // every consumer's references; 0 if unknown
  uint32_t references_by(ConsumerKey who) const { return holds_.held_by(who); }  // on every id
  // A consumer still holds a buffer starting at `base` (tearing control asks before letting the
  // guest draw into it again).
  bool exported_at(Gma base) const;
  bool dmabuf_available() const { return udmabuf_dev_.valid(); }
  ExporterCounters counters() const;

 private:
  struct Object {
    uint32_t id = 0;
    // Identity: everything that changes which bytes the buffer shows, and how.
    Gma base{};
    uint32_t fourcc = 0;
    uint64_t modifier = 0;
    uint32_t width = 0, height = 0, stride = 0;
    uint64_t size = 0;
    std::vector<MemfdOffset> pages;
    uint64_t last_use = 0;  // LRU clock value: the last query, get or release
  };
  Object* find(const decode::PlaneInfo& p);
  void enforce_idle_bound();
  UniqueFd make_dmabuf(int memfd, const std::vector<Extent>& extents) const;

  std::weak_ptr<const GuestRam> ram_;
  ExporterOptions opts_;
  UniqueFd udmabuf_dev_;
  std::map<uint32_t, Object> objects_;  // by id
  Holds holds_;
  IdSequence ids_;
  uint64_t clock_ = 0;
  uint64_t generation_ = 0;
  ExporterCounters c_;
};

// Coalesces a page list into runs of contiguous memfd pages, in list order.
std::vector<Extent> coalesce(const std::vector<MemfdOffset>& pages);

}  // namespace vgd::exporter
