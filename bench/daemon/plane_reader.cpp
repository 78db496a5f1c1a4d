// daemon_bench untrusted's consumer (see plane_reader.h). Buffers are mapped as libvgd-client
// maps them (client::MappedBuffer). Guest buffers stay held and mapped once fetched (as QEMU
// keeps its recent dma-bufs); a plane copy is held only until the next one is mapped, because a
// consumer holding both of a plane's shadows makes every copy a skip (docs/design.md, Tearing
// control).
#include "plane_reader.h"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "client/mapped_buffer.h"
#include "common.h"

namespace vgd::daemon_bench {
namespace {

using Buffer = std::shared_ptr<const client::MappedBuffer>;

Buffer fetch(Conn& c, uint32_t vgpu, uint32_t id) {
  Packet r = c.must(c.call(MsgType::GetBuffer, vgpu, proto::BufferRequest{id}), "GetBuffer");
  proto::BufferReply b{};
  if (!r.read(b) || b.extent_count > proto::kMaxExtents ||
      r.body.size() < sizeof b + size_t{b.extent_count} * sizeof(proto::Extent) || r.fds.empty())
    die(fmt::format("GetBuffer {}: short reply", id));
  std::vector<proto::Extent> extents(b.extent_count);
  for (size_t i = 0; i < extents.size(); ++i) (void)r.read(extents[i], sizeof b + i * sizeof(proto::Extent));
  auto m = client::MappedBuffer::map(b, extents, std::move(r.fds[0]), r.fds.size() > 1 ? std::move(r.fds[1]) : UniqueFd{});
  if (!m) die(fmt::format("mapping buffer {}: {}", id, client::describe(m.error())));
  return *m;
}

}  // namespace

PlaneSamples read_planes(const std::string& path, uint32_t vgpu, double warmup, double seconds,
                         const std::function<void()>& started) {
  Conn c(path);
  c.hello("plane-reader");
  const UniqueFd efd = make_eventfd();
  c.subscribe(vgpu, efd.get());
  const UniqueFd ep = epoll_of({{efd.get(), 0}});
  std::map<uint32_t, Buffer> held;
  std::vector<std::byte> dst;  // the private copy: where a viewer would put the frame
  PlaneSamples s;
  const int64_t recording_at = now_ns() + static_cast<int64_t>(warmup * 1e9);
  int64_t end = 0, cpu0 = 0;
  for (;;) {
    const int64_t now = now_ns();
    if (!end && now >= recording_at) {
      s = {};
      end = now + static_cast<int64_t>(seconds * 1e9);
      cpu0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
      if (started) started();
    }
    if (end && now >= end) break;
    epoll_event ev{};
    uint64_t value = 0;
    if (::epoll_wait(ep.get(), &ev, 1, 50) != 1 || ::read(efd.get(), &value, sizeof value) != sizeof value) continue;
    const int64_t t0 = now_ns();
    ++s.wakes;
    Packet q = c.call(query_packet(vgpu, proto::kPlanePrimary));
    const int64_t t1 = now_ns();
    proto::GfxPlaneInfo p{};
    if (q.header.type == proto::kError || !q.read(p) || p.dmabuf_id == 0) {
      ++s.refused;
      continue;
    }
    auto it = held.find(p.dmabuf_id);
    const bool fetched = it == held.end();
    if (fetched) {
      it = held.emplace(p.dmabuf_id, fetch(c, vgpu, p.dmabuf_id)).first;
      ++s.fetches;
      for (auto old = held.begin(); exporter::ShadowFrames::owns(p.dmabuf_id) && old != held.end();) {
        if (old->first == p.dmabuf_id) {
          ++old;
          continue;
        }
        c.must(c.call(MsgType::Release, vgpu, proto::ReleaseRequest{old->first}), "Release");
        old = held.erase(old);  // and unmapped
      }
    }
    const int64_t t2 = now_ns();
    const client::MappedBuffer& b = *it->second;
    if (dst.size() < b.size()) dst.assign(b.size(), std::byte{1});  // touched before it is timed
    std::memcpy(dst.data(), b.data(), b.size());
    asm volatile("" : : "r"(dst.data()) : "memory");  // the copy is used: not optimised away
    const int64_t t3 = now_ns();
    s.bytes = b.size();
    s.total.push_back(t3 - t0);
    s.query.push_back(t1 - t0);
    if (fetched) s.fetch.push_back(t2 - t1);
    s.read.push_back(t3 - t2);
  }
  s.cpu_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  return s;
}

bool write_all(int fd, const void* p, size_t n) {
  const auto* b = static_cast<const char*>(p);
  while (n) {
    const ssize_t w = ::write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w, n -= static_cast<size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, size_t n) {
  auto* b = static_cast<char*>(p);
  while (n) {
    const ssize_t r = ::read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    b += r, n -= static_cast<size_t>(r);
  }
  return true;
}

void send_samples(int fd, const PlaneSamples& s) {
  const uint64_t head[] = {s.wakes, s.fetches, s.refused, s.bytes, static_cast<uint64_t>(s.cpu_ns)};
  bool ok = write_all(fd, head, sizeof head);
  for (const auto* v : {&s.total, &s.query, &s.fetch, &s.read}) {
    const uint64_t n = v->size();
    ok = ok && write_all(fd, &n, sizeof n) && write_all(fd, v->data(), n * sizeof(int64_t));
  }
  if (!ok) die("the untrusted consumer could not send its samples");
}

bool recv_samples(int fd, PlaneSamples& s) {
  uint64_t head[5];
  if (!read_all(fd, head, sizeof head)) return false;
  s.wakes = head[0], s.fetches = head[1], s.refused = head[2], s.bytes = head[3];
  s.cpu_ns = static_cast<int64_t>(head[4]);
  for (auto* v : {&s.total, &s.query, &s.fetch, &s.read}) {
    uint64_t n = 0;
    if (!read_all(fd, &n, sizeof n) || n > (1u << 24)) return false;
    v->resize(n);
    if (!read_all(fd, v->data(), n * sizeof(int64_t))) return false;
  }
  return true;
}

}  // namespace vgd::daemon_bench
