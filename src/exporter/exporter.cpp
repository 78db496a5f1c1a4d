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

Exporter::Exporter(std::weak_ptr<const GuestRam> ram, ExporterOptions opts) : ram_(std::move(ram)), opts_(std::move(opts)) {
  opts_.idle_capacity = std::max<size_t>(opts_.idle_capacity, 1);  // the buffer just queried stays
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

uint32_t Exporter::lowest_free_id() const {
  uint32_t want = 1;
  for (const auto& [id, o] : objects_) {
    if (id != want) break;
    ++want;
  }
  return want;
}

Expected<GfxPlaneInfo, ExportError> Exporter::query(const GfxPlaneInfo& req, const DecodeResult& decoded) {
  ++c_.queries;
  auto reply = answer_query(req, decoded);
  if (!reply) {
    ++c_.refused;
    return reply;
  }
  if (reply->flags != kFlagDmabuf || no_plane(*reply)) return reply;  // a probe, or nothing shown

  const decode::PlaneInfo& p = *decoded;
  if (p.pages.size() != align_up(p.size, kPageSize) / kPageSize) {  // the decoder's promise, checked
    ++c_.refused;
    return refuse(Errc::InvalidArgument,
                  fmt::format("plane of {} bytes comes with {} pages", p.size, p.pages.size()));
  }
  ++clock_;
  if (Object* o = find(p)) {
    ++c_.hits;
    o->last_query = clock_;
    o->initial_ref = true;  // re-armed: the id stays until get() (or LRU eviction)
    reply->dmabuf_id = o->id;
    return reply;
  }
  ++c_.misses;
  const uint32_t id = lowest_free_id();
  objects_.emplace(id, Object{.id = id, .base = p.base, .fourcc = p.fourcc, .modifier = p.modifier,
                              .width = p.width, .height = p.height, .stride = p.stride, .size = p.size,
                              .pages = p.pages, .initial_ref = true, .exports = 0,
                              .last_query = clock_});
  enforce_idle_bound();
  reply->dmabuf_id = id;
  return reply;
}

void Exporter::enforce_idle_bound() {
  for (;;) {
    size_t idle = 0;
    auto oldest = objects_.end();
    for (auto it = objects_.begin(); it != objects_.end(); ++it) {
      if (it->second.exports != 0) continue;  // a consumer holds it: never evicted
      ++idle;
      if (oldest == objects_.end() || it->second.last_query < oldest->second.last_query) oldest = it;
    }
    if (idle <= opts_.idle_capacity) return;
    objects_.erase(oldest);
    ++c_.evictions;
  }
}

UniqueFd Exporter::make_dmabuf(int memfd, const std::vector<Extent>& extents) {
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

Expected<ExportedBuffer, ExportError> Exporter::get(uint32_t id) {
  const auto it = objects_.find(id);
  if (it == objects_.end()) {
    ++c_.refused;
    return refuse(Errc::NoSuchBuffer, fmt::format("no buffer with id {} (query the plane again)", id));
  }
  Object& o = it->second;
  const auto ram = ram_.lock();
  if (!ram) {
    ++c_.refused;
    return refuse(Errc::NoSuchBuffer, fmt::format("buffer {}: the VM's memory is gone", id));
  }
  ExportedBuffer b;
  // A new open file of the same memfd, read-only: the consumer's descriptor cannot be mapped
  // writable or written, while our read-write descriptor stays ours.
  b.fd.reset(::open(fmt::format("/proc/self/fd/{}", ram->fd()).c_str(), O_RDONLY | O_CLOEXEC));
  if (!b.fd) {
    ++c_.refused;
    return refuse(Errc::Io, fmt::format("reopening the RAM memfd read-only: {}", std::strerror(errno)));
  }
  b.id = id;
  b.size = o.size;
  b.extents = coalesce(o.pages);
  b.fourcc = o.fourcc;
  b.modifier = o.modifier;
  b.width = o.width;
  b.height = o.height;
  b.stride = o.stride;
  if (opts_.udmabuf) {
    if (udmabuf_dev_) b.dmabuf = make_dmabuf(ram->fd(), b.extents);
    ++(b.dmabuf ? c_.dmabufs : c_.dmabuf_failures);
  }
  ++o.exports;
  o.initial_ref = false;  // the export keeps it now (as upstream GVT's GET does)
  ++c_.exports;
  return b;
}

Expected<uint32_t, ExportError> Exporter::release(uint32_t id) {
  const auto it = objects_.find(id);
  if (it == objects_.end() || it->second.exports == 0) {
    ++c_.refused;
    return refuse(Errc::NoSuchBuffer, it == objects_.end() ? fmt::format("no buffer with id {}", id)
                                                          : fmt::format("buffer {} has no export outstanding", id));
  }
  Object& o = it->second;
  const uint32_t left = --o.exports;
  ++c_.releases;
  if (left == 0) {
    if (!o.initial_ref)
      objects_.erase(it);  // no references at all: freed, its id reusable
    else
      enforce_idle_bound();  // re-queried meanwhile: idle now, and counts against the bound
  }
  return left;
}

void Exporter::invalidate_all() {
  objects_.clear();
  ++generation_;
}

uint32_t Exporter::exports_of(uint32_t id) const {
  const auto it = objects_.find(id);
  return it == objects_.end() ? 0 : it->second.exports;
}

bool Exporter::exported_at(Gma base) const {
  return std::ranges::any_of(objects_, [base](const auto& kv) { return kv.second.exports != 0 && kv.second.base == base; });
}

ExporterCounters Exporter::counters() const {
  ExporterCounters c = c_;
  c.live = objects_.size();
  return c;
}

}  // namespace vgd::exporter
