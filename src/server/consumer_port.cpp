#include "server/consumer_port.h"

#include <fmt/format.h>

namespace vgd::server {
namespace {

using exporter::Errc;
using exporter::ExportError;

Unexpected<ExportError> refuse(Errc c, std::string msg) { return Unexpected(ExportError{c, std::move(msg)}); }

std::unique_ptr<exporter::ShadowFrames> make_shadows(const Vgpu& v, const VgpuSpec& spec) {
  if (spec.tearing != TearingMode::Copy) return nullptr;
  return std::make_unique<exporter::ShadowFrames>(std::weak_ptr<const GuestRam>(v.ram_ref()), v.type(),
                                                  spec.copy_budget);
}

// hold: flip-done waits while a consumer holds the replaced buffer; copy: while it is copied.
std::unique_ptr<exporter::HoldGate> make_gate(TearingMode mode, const exporter::Exporter& ex,
                                              const exporter::ShadowFrames* shadows, const display::VblankClock& clock) {
  auto now = [c = &clock] { return c->now_ns(); };
  if (mode == TearingMode::Hold) return std::make_unique<exporter::HoldGate>(ex, now);
  if (mode == TearingMode::Copy)
    return std::make_unique<exporter::HoldGate>([shadows](Gma base) { return shadows->copying(base); }, now);
  return nullptr;
}

}  // namespace

ConsumerPort::ConsumerPort(WorkLock& lock, Vgpu& v, const VgpuSpec& spec, const exporter::ExporterOptions& ex,
                           const display::VblankClock& clock)
    : lock_(lock),
      vgpu_(&v),
      exporter_(std::weak_ptr<const GuestRam>(v.ram_ref()), ex),
      events_(v, &clock),
      planes_(v.id()),
      shadows_(make_shadows(v, spec)),
      gate_(make_gate(spec.tearing, exporter_, shadows_.get(), clock)) {
  const Locked lk(lock_);
  if (shadows_)
    v.set_latch_listener([s = shadows_.get()](Vgpu& g, const display::VblankReport& r) { s->on_vblank(g, r); });
  if (gate_) v.add_flip_done_gate(gate_.get(), exporter::kHoldVblanks);
  // replace_ram() runs under the vGPU's lock, which the analysis cannot see through the callback.
  v.set_ram_listener([this](Vgpu&, bool changed) NO_THREAD_SAFETY_ANALYSIS { follow_ram(changed); });
}

ConsumerPort::~ConsumerPort() {
  const Locked lk(lock_);
  if (gate_) vgpu_->remove_flip_done_gate(gate_.get());  // a guest it held gets its flip-done
  vgpu_->set_latch_listener({});
  vgpu_->set_ram_listener({});
}

void ConsumerPort::follow_ram(bool layout_changed) {
  const std::weak_ptr<const GuestRam> ram(vgpu_->ram_ref());
  exporter_.set_ram(ram, layout_changed);
  if (shadows_) shadows_->set_ram(ram, layout_changed);
  // tearing = hold: the buffers a held flip waited for are gone with the old layout.
  if (layout_changed) vgpu_->retry_held_flips();
  if (ram_follower_) ram_follower_(layout_changed);
}

ConsumerPort::Consumer* ConsumerPort::find(ConsumerId c) {
  auto it = consumers_.find(c);
  return it == consumers_.end() ? nullptr : &it->second;
}

Expected<ConsumerId, std::string> ConsumerPort::open() {
  const Locked lk(lock_);
  auto hub = events_.hub().add_consumer();
  if (!hub) return Unexpected(hub.error());
  const ConsumerId id = next_id_++;
  consumers_[id] = Consumer{*hub};
  events_.damage().add(id);
  return id;
}

void ConsumerPort::close(ConsumerId c) {
  const Locked lk(lock_);
  Consumer* k = find(c);
  if (!k) return;
  exporter_.forget(key(c));
  if (shadows_) shadows_->forget(key(c));
  events_.hub().remove_consumer(k->hub);
  events_.damage().remove(c);
  consumers_.erase(c);
  vgpu_->retry_held_flips();  // tearing = hold: the guest may have been waiting for these
}

void ConsumerPort::refresh_shadow() {
  std::optional<exporter::ShadowFrames::CopyJob> job;
  {
    const Locked lk(lock_);
    if (!shadows_->owed() || shadows_->copying()) return;
    const auto& primary = planes_.decode(vgpu_->vregs(), hw::Plane::Primary, vgpu_->ggtt());
    if (!primary) return;  // nothing shown: the query says so
    job = shadows_->begin_capture(*primary);
    if (!job) return;  // both shadows held: consumers keep the last frame
  }
  exporter::ShadowFrames::run(*job);  // the guest's flip-done away from this surface waits meanwhile
  const Locked lk(lock_);
  shadows_->end_capture(*job);
  vgpu_->retry_held_flips();
}

Expected<exporter::GfxPlaneInfo, ExportError> ConsumerPort::query(ConsumerId c, const exporter::GfxPlaneInfo& req) {
  const auto target = exporter::classify_query(req);
  const bool copy = shadows_ && target && !target->probe && target->plane == hw::Plane::Primary;
  if (copy) refresh_shadow();
  const Locked lk(lock_);
  if (!find(c)) return refuse(Errc::NoSuchBuffer, fmt::format("consumer {} is not open", c));
  // Called by query() below, with lock_ held (the analysis cannot see into lambdas).
  const auto decode_now = [&](hw::Plane plane) NO_THREAD_SAFETY_ANALYSIS -> const exporter::DecodeResult& {
    return planes_.decode(vgpu_->vregs(), plane, vgpu_->ggtt());
  };
  // tearing = copy: the primary is served from the shadow frames, never from guest RAM.
  if (copy) return shadows_->query(key(c), req, decode_now(hw::Plane::Primary));
  return exporter_.query(key(c), req, decode_now);
}

Expected<exporter::ExportedBuffer, ExportError> ConsumerPort::get(ConsumerId c, uint32_t id) {
  exporter::Exporter::Taken t;
  {
    const Locked lk(lock_);
    if (!find(c)) return refuse(Errc::NoSuchBuffer, fmt::format("consumer {} is not open", c));
    if (is_shadow(id)) return shadows_->get(key(c), id);  // one open() of a host memfd
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

Expected<bool, ExportError> ConsumerPort::open_unlocked(exporter::Exporter::Taken& t) const NO_THREAD_SAFETY_ANALYSIS {
  return exporter_.open(t);  // reads only what the exporter's constructor set
}

Expected<bool, ExportError> ConsumerPort::release(ConsumerId c, uint32_t id) {
  const Locked lk(lock_);
  if (!find(c)) return refuse(Errc::NoSuchBuffer, fmt::format("consumer {} is not open", c));
  auto left = is_shadow(id) ? shadows_->release(key(c), id) : exporter_.release(key(c), id);
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
  p.decode_attacks = planes_.attacks();
  p.tearing = shadows_ ? shadows_->counters() : exporter::TearingCounters{};
  if (gate_) {
    const exporter::TearingCounters& h = gate_->counters();
    p.tearing.held = h.held, p.tearing.hold_timeouts = h.hold_timeouts;
    p.tearing.hold_ns_total = h.hold_ns_total, p.tearing.hold_ns_max = h.hold_ns_max;
  }
  return p;
}

}  // namespace vgd::server
