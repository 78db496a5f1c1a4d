#include "client/session.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "client/channel.h"
#include "client/held_buffer.h"

namespace vgd::client {
namespace {

using proto::MsgType;
using proto::Status;

Unexpected<Error> errno_error(std::string_view what) {
  const int err = errno;
  return Unexpected(Error{static_cast<Status>(-err), fmt::format("{}: {}", what, std::strerror(err))});
}

Unexpected<Error> not_open(uint32_t id) {
  return Unexpected(Error{Status::Access, fmt::format("vGPU {} is not open in this session", id)});
}

}  // namespace

VgpuSession::VgpuSession(std::shared_ptr<detail::Channel> ch, uint32_t id, proto::Tearing tearing,
                         SessionOptions opts)
    : ch_(std::move(ch)), id_(id), tearing_(tearing), opts_(opts), link_(std::make_shared<detail::SessionLink>()) {
  opts_.cache_size = std::max<size_t>(opts_.cache_size, 1);
  link_->ch = ch_;
  link_->vgpu = id_;
}

VgpuSession::VgpuSession(VgpuSession&&) noexcept = default;

VgpuSession& VgpuSession::operator=(VgpuSession&& o) noexcept {
  if (this != &o) {
    (void)close();  // what this session held goes back before it takes over o's
    ch_ = std::move(o.ch_);
    id_ = o.id_;
    tearing_ = o.tearing_;
    opts_ = o.opts_;
    cache_ = std::move(o.cache_);
    eventfd_ = std::move(o.eventfd_);
    link_ = std::move(o.link_);  // the buffers o handed out now answer to this session
  }
  return *this;
}

VgpuSession::~VgpuSession() { (void)close(); }

const SessionCounters& VgpuSession::counters() const {
  static const SessionCounters kNone;
  return link_ ? link_->counters : kNone;
}

Result<proto::Packet> VgpuSession::call(proto::Packet p) {
  if (!ch_) return not_open(id_);
  p.header.vgpu = id_;
  return ch_->request(std::move(p));
}

Result<Done> VgpuSession::call_empty(MsgType type) {
  auto r = call(proto::make_packet(static_cast<uint16_t>(type), 0, id_));
  if (!r) return Unexpected(r.error());
  return Done{};
}

Result<Done> VgpuSession::probe() {
  proto::GfxPlaneInfo q{};
  q.argsz = sizeof q;
  q.flags = proto::kFlagProbe | proto::kFlagDmabuf;
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::QueryPlane), 0, id_);
  p.append(q);
  auto r = call(std::move(p));
  if (!r) return Unexpected(r.error());
  return Done{};
}

Result<proto::GfxPlaneInfo> VgpuSession::query(uint32_t plane_type) {
  proto::GfxPlaneInfo q{};
  q.argsz = sizeof q;
  q.flags = proto::kFlagDmabuf;
  q.drm_plane_type = plane_type;
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::QueryPlane), 0, id_);
  p.append(q);
  auto r = call(std::move(p));
  if (!r) return Unexpected(r.error());
  proto::GfxPlaneInfo out{};
  if (!r->read(out)) return Unexpected(Error{Status::Protocol, "QueryPlane reply is too short"});
  return out;
}

namespace {

// A GetBuffer reply checked and mapped.
Result<std::shared_ptr<const MappedBuffer>> map_reply(uint32_t id, proto::Packet& r) {
  proto::BufferReply reply;
  if (!r.read(reply)) return Unexpected(Error{Status::Protocol, "GetBuffer reply is too short"});
  if (reply.id != id)
    return Unexpected(Error{Status::Protocol, fmt::format("asked for buffer {}, got buffer {}", id, reply.id)});
  if (reply.extent_count > proto::kMaxExtents ||
      r.body.size() < sizeof reply + size_t{reply.extent_count} * sizeof(proto::Extent))
    return Unexpected(Error{Status::Protocol, fmt::format("GetBuffer reply too short for {} extents", reply.extent_count)});
  std::vector<proto::Extent> extents(reply.extent_count);
  for (size_t i = 0; i < extents.size(); ++i) (void)r.read(extents[i], sizeof reply + i * sizeof(proto::Extent));
  const bool has_dmabuf = reply.flags & proto::kBufferHasDmabuf;
  if (r.fds.size() != (has_dmabuf ? 2u : 1u))
    return Unexpected(Error{Status::Protocol, fmt::format("GetBuffer reply carries {} descriptors, expected {}",
                                                          r.fds.size(), has_dmabuf ? 2 : 1)});
  return MappedBuffer::map(reply, extents, std::move(r.fds[0]), has_dmabuf ? std::move(r.fds[1]) : UniqueFd{});
}

}  // namespace

Result<std::shared_ptr<const MappedBuffer>> VgpuSession::fetch(uint32_t id) {
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::GetBuffer), 0, id_);
  p.append(proto::BufferRequest{id});
  auto r = call(std::move(p));
  if (!r) return Unexpected(r.error());
  auto mapped = map_reply(id, *r);
  // The daemon counted a reference: return it when this end cannot use the buffer.
  if (!mapped) (void)send_release(id);
  return mapped;
}

std::shared_ptr<const MappedBuffer> VgpuSession::CacheEntry::get() const {
  if (kept) return kept;
  if (auto h = held.lock()) return detail::HeldBuffer::share(h);
  return nullptr;
}

std::vector<VgpuSession::CacheEntry>::iterator VgpuSession::find(uint32_t id) {
  // Buffers the caller let go of (releases_on_drop()) have returned their reference: forget them.
  std::erase_if(cache_, [](const CacheEntry& e) { return !e.kept && e.held.expired(); });
  return std::find_if(cache_.begin(), cache_.end(), [id](const CacheEntry& e) { return e.id == id; });
}

Result<std::shared_ptr<const MappedBuffer>> VgpuSession::buffer(uint32_t id) {
  if (!ch_) return not_open(id_);
  auto hit = find(id);
  if (hit != cache_.end()) {
    if (auto b = hit->get()) {
      ++link_->counters.cache_hits;
      std::rotate(cache_.begin(), hit, hit + 1);
      return b;
    }
    cache_.erase(hit);
  }
  auto fetched = fetch(id);
  if (!fetched) return fetched;
  ++link_->counters.cache_misses;
  // A plane copy (an untrusted connection's buffer, docs/protocol.md §3.5) is never kept
  // either: a kept copy is not rewritten, so the next frame would find no free one.
  if (!releases_on_drop() && id < kFirstCopyId) {
    cache_.insert(cache_.begin(), CacheEntry{id, *fetched, {}});
    evict_beyond_capacity();
    return fetched;
  }
  // The caller's handle owns the reference; the cache only watches it.
  auto held = std::make_shared<detail::HeldBuffer>(std::move(*fetched), link_);
  cache_.insert(cache_.begin(), CacheEntry{id, nullptr, held});
  return detail::HeldBuffer::share(held);
}

Result<std::shared_ptr<const MappedBuffer>> VgpuSession::buffer(const proto::GfxPlaneInfo& plane) {
  if (no_plane(plane)) return Unexpected(Error{Status::NoEntry, "the plane is off: it has no buffer"});
  auto hit = find(plane.dmabuf_id);
  if (hit != cache_.end()) {
    if (const auto b = hit->get()) {
      const bool same = b->fourcc() == plane.drm_format && b->modifier() == plane.drm_format_mod &&
                        b->width() == plane.width && b->height() == plane.height && b->stride() == plane.stride &&
                        b->size() == plane.size;
      // A stale id: the daemon forgot our reference with it, so NoEntry from release is expected.
      if (!same) (void)release(plane.dmabuf_id);
    }
  }
  return buffer(plane.dmabuf_id);
}

Result<Done> VgpuSession::release(uint32_t id) {
  for (const CacheEntry& e : cache_)
    if (e.id == id)
      if (auto h = e.held.lock()) h->detach();  // its reference goes back here, not when dropped
  std::erase_if(cache_, [id](const CacheEntry& e) { return e.id == id; });
  return send_release(id);
}

Result<Done> VgpuSession::send_release(uint32_t id) {
  if (!ch_) return not_open(id_);
  return link_->release(id);
}

void VgpuSession::evict_beyond_capacity() {
  while (cache_.size() > opts_.cache_size) {
    const uint32_t victim = cache_.back().id;
    cache_.pop_back();
    // Not the caller's failure: the buffer it asked for is in hand; a broken connection
    // surfaces at the next request.
    (void)send_release(victim);
  }
}

std::vector<uint32_t> VgpuSession::cached_ids() const {
  std::vector<uint32_t> ids;
  for (const CacheEntry& e : cache_)
    if (e.kept || !e.held.expired()) ids.push_back(e.id);
  return ids;
}

Result<Done> VgpuSession::enable_events() {
  UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd) return errno_error("eventfd");
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::SetEventfd), 0, id_);
  p.fds.push_back(UniqueFd(::dup(fd.get())));  // the packet closes what it carries; we keep fd
  if (!p.fds.back()) return errno_error("dup");
  auto r = call(std::move(p));
  if (!r) return Unexpected(r.error());
  eventfd_ = std::move(fd);
  return Done{};
}

Result<Done> VgpuSession::disable_events() {
  auto r = call_empty(MsgType::SetEventfd);
  if (r) eventfd_.reset();
  return r;
}

Result<EventCounts> VgpuSession::wait_events(std::chrono::milliseconds timeout) {
  if (!eventfd_) return Unexpected(Error{Status::Invalid, "events are not enabled: call enable_events() first"});
  if (!ch_) return not_open(id_);
  if (ch_->broken()) return ch_->lost();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    // The socket too: a daemon that died never signals again, and waiting on would hide it.
    pollfd p[2] = {{eventfd_.get(), POLLIN, 0}, {ch_->fd(), POLLIN, 0}};
    const int n = ::poll(p, 2, static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX)));
    if (n < 0 && errno == EINTR) {
      if (std::chrono::steady_clock::now() >= deadline) return EventCounts{};
      continue;
    }
    if (n < 0) return errno_error("poll on the eventfd");
    if (p[1].revents) return ch_->lost();
    if (n == 0) return EventCounts{};
    uint64_t value = 0;
    if (::read(eventfd_.get(), &value, sizeof value) == sizeof value) return events::decode(value);
    if (errno == EAGAIN || errno == EINTR) continue;  // another reader took it
    return errno_error("reading the eventfd");
  }
}

int VgpuSession::connection_fd() const { return ch_ ? ch_->fd() : -1; }

Result<Done> VgpuSession::mask() { return call_empty(MsgType::Mask); }
Result<Done> VgpuSession::unmask() { return call_empty(MsgType::Unmask); }

Result<EventCounts> VgpuSession::poll_events() {
  auto r = call(proto::make_packet(static_cast<uint16_t>(MsgType::PollEvents), 0, id_));
  if (!r) return Unexpected(r.error());
  proto::EventsReply reply;
  if (!r->read(reply)) return Unexpected(Error{Status::Protocol, "PollEvents reply is too short"});
  last_event_ns_ = reply.event_ns;
  return events::decode(reply.value);
}

Result<PlaneDamage> VgpuSession::damage(uint32_t plane_type) {
  if (!ch_) return not_open(id_);
  if (!(ch_->features() & proto::kFeatureDamage)) return PlaneDamage{};
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::GetDamage), 0, id_);
  p.append(proto::DamageRequest{plane_type, 0});
  auto r = call(std::move(p));
  if (!r) return Unexpected(r.error());
  proto::DamageReply head;
  if (!r->read(head) || head.count > proto::kMaxDamageRects ||
      r->body.size() < sizeof head + size_t{head.count} * sizeof(proto::DamageRect))
    return Unexpected(Error{Status::Protocol, "GetDamage reply is shorter than its count says"});
  PlaneDamage d{(head.flags & proto::kDamageHinted) != 0, (head.flags & proto::kDamageWhole) != 0, {}};
  for (uint32_t i = 0; i < head.count && d.hinted && !d.whole; ++i) {
    proto::DamageRect rect;
    (void)r->read(rect, sizeof head + size_t{i} * sizeof rect);
    d.rects.push_back(rect);
  }
  return d;
}

Result<Done> VgpuSession::close() {
  if (!ch_) return Done{};
  // The daemon returns every reference on Close, so the cache is dropped without Releases, and
  // buffers the caller still holds must send none when dropped later: cut their link first.
  link_->ch.reset();
  cache_.clear();
  eventfd_.reset();
  auto r = call_empty(MsgType::Close);
  ch_->open_vgpus().erase(id_);
  ch_.reset();
  return r;
}

}  // namespace vgd::client
