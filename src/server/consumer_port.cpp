#include "server/consumer_port.h"

#include <fmt/format.h>

namespace vgd::server {
namespace {

using exporter::Errc;
using exporter::ExportError;

Unexpected<ExportError> refuse(Errc c, std::string msg) { return Unexpected(ExportError{c, std::move(msg)}); }

// Flip-done waits while the replaced buffer is being copied (any mode: untrusted consumers are
// served copies), and for hold while a consumer holds it.
std::unique_ptr<exporter::HoldGate> make_gate(TearingMode mode, const exporter::Exporter& ex,
                                              const exporter::PlaneCopies* copies, const display::VblankClock& clock) {
  auto now = [c = &clock] { return c->now_ns(); };
  const bool hold = mode == TearingMode::Hold;
  return std::make_unique<exporter::HoldGate>(
      [copies, e = &ex, hold](Gma base) { return copies->copying(base) || (hold && e->exported_at(base)); }, now);
}

Unexpected<ExportError> not_open(ConsumerId c) {
  return refuse(Errc::NoSuchBuffer, fmt::format("consumer {} is not open", c));
}

}  // namespace

ConsumerPort::ConsumerPort(WorkLock& lock, Vgpu& v, const VgpuSpec& spec, const exporter::ExporterOptions& ex,
                           const display::VblankClock& clock)
    : lock_(lock),
      vgpu_(&v),
      exporter_(std::weak_ptr<const GuestRam>(v.ram_ref()), ex),
      events_(v, &clock),
      planes_(v.id()),
      copy_primary_(spec.tearing == TearingMode::Copy),
      copies_(std::make_unique<exporter::PlaneCopies>(std::weak_ptr<const GuestRam>(v.ram_ref()), v.type(),
                                                      spec.copy_budget)),
      gate_(make_gate(spec.tearing, exporter_, copies_.get(), clock)) {
  const Locked lk(lock_);
  v.set_latch_listener([s = copies_.get()](Vgpu& g, const display::VblankReport& r) { s->on_vblank(g, r); });
  v.add_flip_done_gate(gate_.get(), exporter::kHoldVblanks);
  // replace_ram() runs under the vGPU's lock, which the analysis cannot see through the callback.
  v.set_ram_listener([this](Vgpu&, bool changed) NO_THREAD_SAFETY_ANALYSIS { follow_ram(changed); });
}

ConsumerPort::~ConsumerPort() {
  const Locked lk(lock_);
  vgpu_->remove_flip_done_gate(gate_.get());  // a guest it held gets its flip-done
  vgpu_->set_latch_listener({});
  vgpu_->set_ram_listener({});
}

void ConsumerPort::follow_ram(bool layout_changed) {
  const std::weak_ptr<const GuestRam> ram(vgpu_->ram_ref());
  exporter_.set_ram(ram, layout_changed);
  copies_->set_ram(ram, layout_changed);
  // tearing = hold: the buffers a held flip waited for are gone with the old layout.
  if (layout_changed) vgpu_->retry_held_flips();
  if (ram_follower_) ram_follower_(layout_changed);
}

ConsumerPort::Consumer* ConsumerPort::find(ConsumerId c) {
  auto it = consumers_.find(c);
  return it == consumers_.end() ? nullptr : &it->second;
}

Expected<ConsumerId, std::string> ConsumerPort::open(Trust trust) {
  const Locked lk(lock_);
  auto hub = events_.hub().add_consumer();
  if (!hub) return Unexpected(hub.error());
  const ConsumerId id = next_id_++;
  consumers_[id] = Consumer{*hub, trust};
  events_.damage().add(id);
  return id;
}

void ConsumerPort::close(ConsumerId c) {
  const Locked lk(lock_);
  Consumer* k = find(c);
  if (!k) return;
  exporter_.forget(key(c));
  copies_->forget(key(c));
  events_.hub().remove_consumer(k->hub);
  events_.damage().remove(c);
  consumers_.erase(c);
  vgpu_->retry_held_flips();  // tearing = hold: the guest may have been waiting for these
}

std::optional<Trust> ConsumerPort::trust_of(ConsumerId c) {
  const Locked lk(lock_);
  const Consumer* k = find(c);
  return k ? std::optional(k->trust) : std::nullopt;
}

void ConsumerPort::refresh_copy(hw::Plane plane) {
  std::optional<exporter::ShadowFrames::CopyJob> job;
  {
    const Locked lk(lock_);
    exporter::ShadowFrames& set = copies_->of(plane);
    if (set.copying()) return;
    const auto& decoded = planes_.decode(vgpu_->vregs(), plane, vgpu_->ggtt());
    if (!decoded || !set.owed(*decoded)) return;  // nothing shown (the query says so), or copied
    job = set.begin_capture(*decoded);
    if (!job) return;  // both shadows held: consumers keep the last frame
  }
  exporter::ShadowFrames::run(*job);  // the guest's flip-done away from this surface waits meanwhile
  const Locked lk(lock_);
  copies_->of(plane).end_capture(*job);
  vgpu_->retry_held_flips();
}

Expected<exporter::GfxPlaneInfo, ExportError> ConsumerPort::query(ConsumerId c, const exporter::GfxPlaneInfo& req) {
  const auto target = exporter::classify_query(req);
  bool copy = false;
  if (target && !target->probe) {
    const auto trust = trust_of(c);
    if (!trust) return not_open(c);
    copy = *trust == Trust::Untrusted || (copy_primary_ && target->plane == hw::Plane::Primary);
  }
  if (copy) refresh_copy(target->plane);
  const Locked lk(lock_);
  if (!find(c)) return not_open(c);
  // Called by query() below, with lock_ held (the analysis cannot see into lambdas).
  const auto decode_now = [&](hw::Plane plane) NO_THREAD_SAFETY_ANALYSIS -> const exporter::DecodeResult& {
    return planes_.decode(vgpu_->vregs(), plane, vgpu_->ggtt());
  };
  // Served from the plane's copies, never from guest RAM.
  if (copy) return copies_->of(target->plane).query(key(c), req, decode_now(target->plane));
  return exporter_.query(key(c), req, decode_now);
}

Expected<exporter::ExportedBuffer, ExportError> ConsumerPort::get(ConsumerId c, uint32_t id) {
  exporter::Exporter::Taken t;
  {
    const Locked lk(lock_);
    const Consumer* k = find(c);
    if (!k) return not_open(c);
    if (references_by(c) >= kMaxReferences) {
      ++over_limit_;
      return refuse(Errc::TooMany, fmt::format("{} buffer references held on this vGPU already, the most a connection may "
                                               "hold: Release some (docs/protocol.md §4)",
                                               kMaxReferences));
    }
    if (exporter::ShadowFrames* s = copies_->owner(id)) return s->get(key(c), id);  // one open() of a host memfd
    // Guest RAM and dma-bufs are for trusted consumers only (docs/protocol.md §3.5).
    if (k->trust != Trust::Trusted)
      return refuse(Errc::NoSuchBuffer, fmt::format("buffer {} is not a plane copy (query the plane again)", id));
    auto taken = exporter_.take(key(c), id);
    if (!taken) return Unexpected(taken.error());
    t = std::move(*taken);
  }
  // The descriptors (an open() and maybe a udmabuf ioctl over every extent) without the lock:
  // the vGPU's vblank and traps never wait for them.
  auto opened = open_unlocked(t);
  const Locked lk(lock_);
  exporter_.settle(key(c), t, opened.has_value());
  if (!opened) return Unexpected(opened.error());
  return std::move(t.buf);
}

uint32_t ConsumerPort::references_by(ConsumerId c) const {
  return exporter_.references_by(key(c)) + copies_->references_by(key(c));
}

Expected<bool, ExportError> ConsumerPort::open_unlocked(exporter::Exporter::Taken& t) const NO_THREAD_SAFETY_ANALYSIS {
  return exporter_.open(t);  // reads only what the exporter's constructor set
}

Expected<bool, ExportError> ConsumerPort::release(ConsumerId c, uint32_t id) {
  const Locked lk(lock_);
  if (!find(c)) return not_open(c);
  exporter::ShadowFrames* s = copies_->owner(id);
  auto left = s ? s->release(key(c), id) : exporter_.release(key(c), id);
  if (!left) return Unexpected(left.error());
  vgpu_->retry_held_flips();  // tearing = hold: the guest may have been waiting for this one
  return true;
}

Expected<bool, std::string> ConsumerPort::set_eventfd(ConsumerId c, UniqueFd fd) {
  const Locked lk(lock_);
  Consumer* k = find(c);
  if (!k) return Unexpected(fmt::format("consumer {} is not open", c));
  events::EventHub& hub = events_.hub();
  const bool masked = hub.masked(k->hub).value_or(false);
  auto added = hub.add_consumer(std::move(fd));
  if (!added) return Unexpected(added.error());
  hub.remove_consumer(k->hub);
  k->hub = *added;
  hub.set_masked(k->hub, masked);
  return true;
}

bool ConsumerPort::set_masked(ConsumerId c, bool masked) {
  const Locked lk(lock_);
  const Consumer* k = find(c);
  return k && events_.hub().set_masked(k->hub, masked);
}

std::optional<EventsState> ConsumerPort::poll(ConsumerId c) {
  const Locked lk(lock_);
  const Consumer* k = find(c);
  if (!k) return std::nullopt;
  return EventsState{events_.hub().poll(k->hub).value_or(0), events_.last_event_ns()};
}

std::optional<events::DamageAnswer> ConsumerPort::damage(ConsumerId c, hw::Plane pl) {
  const Locked lk(lock_);
  if (!find(c)) return std::nullopt;
  return events_.damage().take(c, pl);
}

PortCounters ConsumerPort::counters() const {
  PortCounters p;
  p.events = events_.hub().stats();
  p.event_consumers = events_.hub().consumers();
  p.event_latency = events_.latency();
  p.exporter = exporter_.counters();
  p.exporter.over_limit = over_limit_;
  p.decode_attacks = planes_.attacks();
  p.tearing = copies_->counters();
  const exporter::TearingCounters& h = gate_->counters();
  p.tearing.held = h.held, p.tearing.hold_timeouts = h.hold_timeouts;
  p.tearing.hold_ns_total = h.hold_ns_total, p.tearing.hold_ns_max = h.hold_ns_max;
  return p;
}

}  // namespace vgd::server
