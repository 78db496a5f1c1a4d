// What consumers see of one vGPU (docs/protocol.md): plane queries, buffers and their references,
// refresh events, tearing control. The server is a codec over it. Every method takes the vGPU's
// lock itself and holds it only for bookkeeping: frame copies (tearing = copy) and a buffer's
// descriptors (an open() and a udmabuf ioctl) are made outside it, so a consumer never delays
// the vGPU's vblanks or its guest's traps by a frame's memcpy or a dma-buf's creation.
//
// Least privilege (docs/protocol.md §3.5): an untrusted consumer is answered from host-owned
// read-only copies of the planes (exporter::PlaneCopies), never guest RAM nor a dma-buf; a
// trusted one gets guest RAM itself (zero-copy), with tearing control as configured.
//
// A consumer is a handle from open(). Its buffer references and query pins are kept per consumer
// (exporter::ConsumerKey): close() gives back whatever it still holds, so a disconnect cannot
// leak a reference or keep a guest's flip-done waiting.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/daemon_config.h"
#include "decode/plane_cache.h"
#include "display/vblank_clock.h"
#include "events/vgpu_events.h"
#include "exporter/exporter.h"
#include "exporter/plane_copies.h"
#include "exporter/tearing.h"
#include "util/expected.h"
#include "util/thread_annotations.h"
#include "util/work_lock.h"
#include "vgpu/vgpu.h"

namespace vgd::server {

// What a consumer may be given (docs/security.md): the guest's memory itself (zero-copy, dma-bufs)
// or only host-owned read-only copies of the planes.
enum class Trust : uint8_t { Untrusted, Trusted };

// Assigned by the port from 1, never reused; 0 is never a consumer.
using ConsumerId = uint32_t;

struct EventsState {
  uint64_t value = 0;          // what poll() took
  uint64_t last_event_ns = 0;  // what the newest event reports (VgpuEvents::last_event_ns)
};

// Counters of the consumer side, copied under the lock.
struct PortCounters {
  events::HubStats events;
  uint64_t event_consumers = 0;
  Histogram event_latency = latency_histogram();
  exporter::ExporterCounters exporter;
  exporter::TearingCounters tearing;
  AttackCounts decode_attacks;  // planes the queries' decoder refused (decode/plane_cache.h)
};

class ConsumerPort {
 public:
  // The most buffer references one consumer may hold at once (GetBuffer not yet Released,
  // repeated ones of an id included, guest buffers and shadow frames together; docs/protocol.md
  // §4). A viewer keeps a handful (QEMU 5); without a bound a consumer that never Releases
  // would keep every surface the guest ever showed known, and its counts growing, for ever.
  static constexpr uint32_t kMaxReferences = 64;

  // Attaches to `v` (its listeners, the RAM one too, its flip-done gate); detaches when
  // destroyed, which must happen before `v` goes. `clock` times holds and event latency.
  // `spec`: its tearing mode and copy budget (each plane's copies).
  ConsumerPort(WorkLock& lock, Vgpu& v, const VgpuSpec& spec, const exporter::ExporterOptions& ex,
               const display::VblankClock& clock);
  ~ConsumerPort();
  ConsumerPort(const ConsumerPort&) = delete;
  ConsumerPort& operator=(const ConsumerPort&) = delete;

  // A consumer that polls for events until it registers an eventfd.
  Expected<ConsumerId, std::string> open(Trust trust) EXCLUDES(lock_);
  // Gives back its references and stops its events; unknown ids are ignored.
  void close(ConsumerId c) EXCLUDES(lock_);

  // The kernel's plane query (exporter::Exporter::query) for this consumer.
  Expected<exporter::GfxPlaneInfo, exporter::ExportError> query(ConsumerId c, const exporter::GfxPlaneInfo& req)
      EXCLUDES(lock_);
  // A descriptor of a buffer; one reference the consumer gives back with release(). TooMany
  // when the consumer holds kMaxReferences already.
  Expected<exporter::ExportedBuffer, exporter::ExportError> get(ConsumerId c, uint32_t id) EXCLUDES(lock_);
  Expected<bool, exporter::ExportError> release(ConsumerId c, uint32_t id) EXCLUDES(lock_);

  // Replaces the consumer's eventfd (an invalid fd: poll instead); its mask stays.
  Expected<bool, std::string> set_eventfd(ConsumerId c, UniqueFd fd) EXCLUDES(lock_);
  bool set_masked(ConsumerId c, bool masked) EXCLUDES(lock_);
  // Damage hints (docs/protocol.md §3.9): what changed on the plane since this consumer last
  // asked, or "no hints"; nullopt for a consumer that is not open.
  std::optional<events::DamageAnswer> damage(ConsumerId c, hw::Plane pl) EXCLUDES(lock_);
  std::optional<EventsState> poll(ConsumerId c) EXCLUDES(lock_);

  // With the vGPU's lock held (the status publisher).
  PortCounters counters() const REQUIRES(lock_);
  // Told, under the vGPU's lock, after the port followed a RAM replacement (the vGPU's direct-flip
  // link follows it too: HostedVgpu). One follower; empty: none.
  using RamFollower = std::function<void(bool layout_changed)>;
  void set_ram_follower(RamFollower f) REQUIRES(lock_) { ram_follower_ = std::move(f); }
  // The exporter, for tests and benchmarks that look inside (with the vGPU's lock held).
  const exporter::Exporter& exporter() const REQUIRES(lock_) { return exporter_; }
  events::VgpuEvents& events() REQUIRES(lock_) { return events_; }

 private:
  struct Consumer {
    events::ConsumerId hub = 0;  // changes with every SetEventfd
    Trust trust = Trust::Untrusted;
  };
  static exporter::ConsumerKey key(ConsumerId c) { return exporter::ConsumerKey{c}; }
  Consumer* find(ConsumerId c) REQUIRES(lock_);
  uint32_t references_by(ConsumerId c) const REQUIRES(lock_);  // guest buffers and shadows
  // Whether c is open and trusted, nullopt if not open (trust is fixed at open()).
  std::optional<Trust> trust_of(ConsumerId c) EXCLUDES(lock_);
  // Exporter::open(), which touches nothing the lock guards.
  Expected<bool, exporter::ExportError> open_unlocked(exporter::Exporter::Taken& t) const;
  // The vGPU's RAM listener: the exporter and the shadows read the new RAM; a changed layout
  // drops every exported buffer's id (consumers query again; descriptors they hold stay valid).
  void follow_ram(bool layout_changed) REQUIRES(lock_);
  // A fresh copy of `plane` when it changed since the last one (untrusted consumers; the primary
  // for tearing = copy). Takes and drops the lock around the copy.
  void refresh_copy(hw::Plane plane) EXCLUDES(lock_);

  WorkLock& lock_;
  Vgpu* const vgpu_ PT_GUARDED_BY(lock_);
  exporter::Exporter exporter_ GUARDED_BY(lock_);
  events::VgpuEvents events_ GUARDED_BY(lock_);
  decode::PlaneCache planes_ GUARDED_BY(lock_);  // what queries decode
  // Fixed at construction (which ones exist needs no lock; using them does): the planes' copies
  // (untrusted consumers; tearing = copy serves the primary's to trusted ones too); the gate holds
  // a primary flip's flip-done while its old buffer is copied, and for tearing = hold while a
  // consumer holds it.
  const bool copy_primary_;  // tearing = copy
  const std::unique_ptr<exporter::PlaneCopies> copies_ PT_GUARDED_BY(lock_);
  const std::unique_ptr<exporter::HoldGate> gate_ PT_GUARDED_BY(lock_);
  std::map<ConsumerId, Consumer> consumers_ GUARDED_BY(lock_);
  ConsumerId next_id_ GUARDED_BY(lock_) = 1;
  RamFollower ram_follower_ GUARDED_BY(lock_);
  uint64_t over_limit_ GUARDED_BY(lock_) = 0;  // GetBuffers refused at kMaxReferences
};

}  // namespace vgd::server
