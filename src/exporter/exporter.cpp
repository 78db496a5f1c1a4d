#include "exporter/exporter.h"

#include <fcntl.h>
#include <linux/udmabuf.h>
#include <sys/ioctl.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vgd::exporter {

namespace {

Unexpected<ExportError> refuse(Errc c, std::string msg) { return Unexpected(ExportError{c, std::move(msg)}); }

}  // namespace

std::vector<Extent> coalesce(const std::vector<MemfdOffset>& pages) {
  std::vector<Extent> out;
  for (MemfdOffset p : pages) {
    if (!out.empty() && out.back().offset + out.back().length == p.value())
      out.back().length += kPageSize;
    else
      out.push_back({p.value(), kPageSize});
  }
  return out;
}

Exporter::Exporter(std::weak_ptr<const GuestRam> ram, ExporterOptions opts)
    : ram_(std::move(ram)), opts_(std::move(opts)), ids_(kBufferIds, opts_.first_id) {
  opts_.idle_capacity = std::max<size_t>(opts_.idle_capacity, 1);  // the buffer released last stays
  if (opts_.udmabuf) udmabuf_dev_.reset(::open(opts_.udmabuf_path.c_str(), O_RDWR | O_CLOEXEC));
}

Exporter::Object* Exporter::find(const decode::PlaneInfo& p) {
  // Linear: the live set is the LRU bound plus what consumers hold, a handful in steady state.
  // The page lists are compared last: a hash of them cost as much as the comparison it was
  // meant to spare (a serial chain over 2,025 pages at 1080p), since a hit compares them anyway.
  for (auto& [id, o] : objects_) {
    if (o.base == p.base && o.fourcc == p.fourcc && o.modifier == p.modifier &&
        o.width == p.width && o.height == p.height && o.stride == p.stride && o.size == p.size && o.pages == p.pages)
      return &o;
  }
  return nullptr;
}

Expected<GfxPlaneInfo, ExportError> Exporter::query(ConsumerKey who, const GfxPlaneInfo& req, const DecodeResult& decoded) {
  ++c_.queries;
  auto reply = answer_query(req, decoded);
  if (!reply) {
    ++c_.refused;
    return reply;
  }
  if (reply->flags != kFlagDmabuf) return reply;  // a probe
  const hw::Plane plane = classify_query(req)->plane;  // a valid query: answer_query() classified it
  if (no_plane(*reply)) {
    holds_.pin(who, plane, 0);
    enforce_idle_bound();  // the buffer it pinned before may be idle now
    return reply;
  }

  const decode::PlaneInfo& p = *decoded;
  if (p.pages.size() != align_up(p.size, kPageSize) / kPageSize) {  // the decoder's promise, checked
    ++c_.refused;
    return refuse(Errc::InvalidArgument,
                  fmt::format("plane of {} bytes comes with {} pages", p.size, p.pages.size()));
  }
  ++clock_;
  Object* o = find(p);
  if (o) {
    ++c_.hits;
    o->last_use = clock_;
  } else {
    ++c_.misses;
    const uint32_t id = ids_.take([this](uint32_t n) { return objects_.contains(n); });
    o = &objects_.emplace(id, Object{.id = id, .base = p.base, .fourcc = p.fourcc, .modifier = p.modifier,
                                     .width = p.width, .height = p.height, .stride = p.stride, .size = p.size,
                                     .pages = p.pages, .last_use = clock_})
             .first->second;
  }
  holds_.pin(who, plane, o->id);  // the id stays until `who` gets it (or queries this plane again)
  reply->dmabuf_id = o->id;
  enforce_idle_bound();
  return reply;
}

void Exporter::enforce_idle_bound() {
  for (;;) {
    size_t idle = 0;
    auto oldest = objects_.end();
    for (auto it = objects_.begin(); it != objects_.end(); ++it) {
      if (!holds_.idle(it->first)) continue;  // referenced or pinned: never evicted
      ++idle;
      if (oldest == objects_.end() || it->second.last_use < oldest->second.last_use) oldest = it;
    }
    if (idle <= opts_.idle_capacity) return;
    objects_.erase(oldest);  // its id is not handed out again before the numbering wraps
    ++c_.evictions;
  }
}

UniqueFd Exporter::make_dmabuf(int memfd, const std::vector<Extent>& extents) const {
  // udmabuf_create_list ends in a flexible array of items; build it in 8-byte words.
  const size_t bytes = sizeof(udmabuf_create_list) + extents.size() * sizeof(udmabuf_create_item);
  std::vector<uint64_t> storage((bytes + 7) / 8, 0);
  auto* list = reinterpret_cast<udmabuf_create_list*>(storage.data());
  list->flags = UDMABUF_FLAGS_CLOEXEC;
  list->count = static_cast<uint32_t>(extents.size());
  for (size_t i = 0; i < extents.size(); ++i)
    list->list[i] = udmabuf_create_item{static_cast<uint32_t>(memfd), 0, extents[i].offset, extents[i].length};
  // The kernel refuses lists or sizes beyond its module limits (list_limit, size_limit_mb):
  // that leaves this buffer without a dma-buf, not without an export.
  return UniqueFd(::ioctl(udmabuf_dev_.get(), UDMABUF_CREATE_LIST, list));
}

Expected<ExportedBuffer, ExportError> Exporter::get(ConsumerKey who, uint32_t id) {
  auto t = take(who, id);
  if (!t) return Unexpected(t.error());
  auto opened = open(*t);
  settle(who, *t, opened.has_value());
  if (!opened) return Unexpected(opened.error());
  return std::move(t->buf);
}

Expected<Exporter::Taken, ExportError> Exporter::take(ConsumerKey who, uint32_t id) {
  const auto it = objects_.find(id);
  if (it == objects_.end()) {
    ++c_.refused;
    return refuse(Errc::NoSuchBuffer, fmt::format("no buffer with id {} (query the plane again)", id));
  }
  Object& o = it->second;
  Taken t;
  t.ram = ram_.lock();
  if (!t.ram || t.ram->empty()) {
    ++c_.refused;
    return refuse(Errc::NoSuchBuffer, fmt::format("buffer {}: the VM's memory is gone", id));
  }
  ExportedBuffer& b = t.buf;
  b.id = id;
  b.size = o.size;
  b.extents = coalesce(o.pages);
  b.fourcc = o.fourcc;
  b.modifier = o.modifier;
  b.width = o.width;
  b.height = o.height;
  b.stride = o.stride;
  holds_.add(who, id);  // the reference keeps it now; `who`'s pin is spent
  o.last_use = ++clock_;
  return t;
}

Expected<bool, ExportError> Exporter::open(Taken& t) const {
  ExportedBuffer& b = t.buf;
  // A new open file of the same memfd, read-only: the consumer's descriptor cannot be mapped
  // writable or written, while our read-write descriptor stays ours.
  b.fd.reset(::open(fmt::format("/proc/self/fd/{}", t.ram->fd()).c_str(), O_RDONLY | O_CLOEXEC));
  if (!b.fd) return refuse(Errc::Io, fmt::format("reopening the RAM memfd read-only: {}", std::strerror(errno)));
  if (opts_.udmabuf && udmabuf_dev_) b.dmabuf = make_dmabuf(t.ram->fd(), b.extents);
  return true;
}

void Exporter::settle(ConsumerKey who, const Taken& t, bool opened) {
  if (!opened) {
    ++c_.refused;
    if (objects_.contains(t.buf.id)) (void)holds_.drop(who, t.buf.id);
    return;
  }
  if (opts_.udmabuf) ++(t.buf.dmabuf ? c_.dmabufs : c_.dmabuf_failures);
  ++c_.exports;
}

Expected<uint32_t, ExportError> Exporter::release(ConsumerKey who, uint32_t id) {
  const auto it = objects_.find(id);
  const int64_t left = it == objects_.end() ? -1 : holds_.drop(who, id);
  if (left < 0) {
    ++c_.refused;
    return refuse(Errc::NoSuchBuffer, it == objects_.end() ? fmt::format("no buffer with id {}", id)
                                                          : fmt::format("no reference held on buffer {}", id));
  }
  ++c_.releases;
  it->second.last_use = ++clock_;
  if (left == 0) enforce_idle_bound();  // idle now, perhaps, and counting against the bound
  return static_cast<uint32_t>(left);
}

void Exporter::forget(ConsumerKey who) {
  holds_.forget(who);
  enforce_idle_bound();
}

void Exporter::invalidate_all() {
  objects_.clear();
  holds_.clear();
  ++generation_;
}

void Exporter::set_ram(std::weak_ptr<const GuestRam> ram, bool layout_changed) {
  ram_ = std::move(ram);
  if (layout_changed) invalidate_all();
}

uint32_t Exporter::exports_of(uint32_t id) const {
  return objects_.contains(id) ? holds_.references(id) : 0;
}

bool Exporter::exported_at(Gma base) const {
  return std::ranges::any_of(objects_, [&](const auto& kv) { return kv.second.base == base && holds_.references(kv.first) != 0; });
}

ExporterCounters Exporter::counters() const {
  ExporterCounters c = c_;
  c.live = objects_.size();
  return c;
}

}  // namespace vgd::exporter
