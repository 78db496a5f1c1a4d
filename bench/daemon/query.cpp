// daemon_bench query: QueryPlane round trip for a plane whose id is already known (exporter cache
// hit) (goal: p50 ≤ 10 µs), next to a bare SOCK_SEQPACKET ping-pong of the same packet sizes with
// an echo thread, and an echo thread doing the daemon's packet I/O (epoll +
// proto::recv_packet/send_packet) but no work. Each row twice: threads where the scheduler puts
// them, and [1 CPU] with the client and the answering thread pinned to one CPU (in a VM, waking a
// thread on an idle vCPU costs tens of µs; pinned, a wake-up is a context switch and the row shows
// the software path). The answering thread's CPU per round trip is reported too. No probe: the
// daemon's own code path, untouched.
#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace vgd::daemon_bench {
namespace {

std::vector<std::byte> bytes_of(const Packet& p) {
  std::vector<std::byte> out(sizeof(proto::Header) + p.body.size());
  std::memcpy(out.data(), &p.header, sizeof(proto::Header));
  if (!p.body.empty()) std::memcpy(out.data() + sizeof(proto::Header), p.body.data(), p.body.size());
  return out;
}

// The client side of every row alike: prebuilt bytes out with send(), one blocking recv().
// `check` validates each reply (outside the timed part).
Dist time_round_trips(int fd, const std::vector<std::byte>& req, double seconds,
                      const std::function<bool(const std::byte*, size_t)>& check,
                      const std::function<void()>& on_start = {}) {
  static std::array<std::byte, proto::kMaxPacket> buf;
  auto once = [&]() -> int64_t {
    const int64_t t0 = now_ns();
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) die(fmt::format("send: {}", std::strerror(errno)));
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    const int64_t t1 = now_ns();
    if (n <= 0 || !check(buf.data(), static_cast<size_t>(n))) die("bad reply in a round trip");
    return t1 - t0;
  };
  for (int i = 0; i < 2000; ++i) once();  // warm caches and the scheduler's view of both threads
  std::vector<int64_t> samples;
  samples.reserve(400'000);
  if (on_start) on_start();
  const int64_t end = now_ns() + static_cast<int64_t>(seconds * 1e9);
  while (now_ns() < end) samples.push_back(once());
  return summarize(std::move(samples));
}

bool is_reply(const std::byte* b, size_t n, MsgType t, size_t body) {
  proto::Header h;
  if (n != sizeof h + body) return false;
  std::memcpy(&h, b, sizeof h);
  return h.magic == proto::kMagic && h.type == (static_cast<uint16_t>(t) | proto::kReplyBit);
}

bool is_hit(const std::byte* b, size_t n) {
  if (!is_reply(b, n, MsgType::QueryPlane, sizeof(proto::GfxPlaneInfo))) return false;
  proto::GfxPlaneInfo r;
  std::memcpy(&r, b + sizeof(proto::Header), sizeof r);
  return r.dmabuf_id != 0 && r.drm_format != 0;
}

struct QueryRow {
  std::string name, kind;
  size_t request_bytes = 0, reply_bytes = 0;
  Dist d;
  uint64_t new_ids = 0;  // exporter misses during the row: 0 means every query was a cache hit
  double server_cpu_us = 0;  // the server loop thread's CPU per round trip (daemon rows)
  double other_pct = 0;      // other processes' CPU meanwhile
};

QueryRow query_row(std::string name, std::string kind, size_t request_bytes, size_t reply_bytes) {
  QueryRow r;
  r.name = std::move(name), r.kind = std::move(kind);
  r.request_bytes = request_bytes, r.reply_bytes = reply_bytes;
  return r;
}

void print_query(const QueryRow& r) {
  std::printf("%-66s %5zu/%-5zu %8zu %7.1f %7.1f %7.1f %8.1f %8.1f %s %6.0f\n", r.name.c_str(), r.request_bytes,
              r.reply_bytes, r.d.n, r.d.p50, r.d.p90, r.d.p99, r.d.p999, r.d.max,
              fmt::format("{:10.1f}", r.server_cpu_us).c_str(), r.other_pct);
}

// Thread placement: where the scheduler puts them (on an idle machine, each wake-up of the
// other side may have to wake an idle CPU, which in a VM is a trip through the hypervisor), or
// both sides of a round trip on CPU 0 (a wake-up is then a context switch: the software path).
struct Placement {
  pthread_t other;
  bool one_cpu;
  Placement(pthread_t o, bool one) : other(o), one_cpu(one) {
    if (one_cpu) set_affinity(::pthread_self(), 0), set_affinity(other, 0);
  }
  ~Placement() {
    if (one_cpu) set_affinity(::pthread_self(), -1), set_affinity(other, -1);
  }
  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;
};

}  // namespace

void run_query(const Options& o) {
  const OtherLoad part_others;
  const std::string context = context_json();
  std::printf("\n== query: QueryPlane round trip over the socket, plane id already known (goal p50 <= 10 us); %s\n",
              context_line().c_str());
  std::printf("   each row twice: threads where the scheduler puts them, and [1 CPU]: the client and the thread that\n"
              "   answers (echo thread / server loop) both on CPU 0, so that no wake-up has to wake an idle CPU\n");
  std::printf("%-66s %11s %8s %7s %7s %7s %8s %8s %10s %6s\n", "round trip", "bytes", "n", "p50 us", "p90 us", "p99 us",
              "p99.9 us", "max us", "srv us/rt", "other%");
  std::vector<QueryRow> rows;
  const Packet query = query_packet(1, proto::kPlanePrimary);
  const std::vector<std::byte> query_bytes = bytes_of(query);
  Packet reply = proto::make_packet(static_cast<uint16_t>(MsgType::QueryPlane) | proto::kReplyBit, 1, 1);
  proto::GfxPlaneInfo answer = plane_request(proto::kPlanePrimary);
  answer.drm_format = 1, answer.dmabuf_id = 1;
  reply.append(answer);
  const std::vector<std::byte> reply_bytes = bytes_of(reply);
  const auto hit = [](const std::byte* b, size_t n) { return is_hit(b, n); };
  const char* kPlacements[] = {"", " [1 CPU]"};

  // One row: `server` is the thread that answers (pinned with the client for [1 CPU]).
  auto measure = [&](QueryRow r, int fd, const std::vector<std::byte>& req, std::thread& server, bool one_cpu,
                     const std::function<bool(const std::byte*, size_t)>& check) {
    r.name += kPlacements[one_cpu];
    const Placement placed(server.native_handle(), one_cpu);
    int64_t cpu0 = 0;
    const OtherLoad others;
    r.d = time_round_trips(fd, req, o.query_seconds, check, [&] { cpu0 = thread_cpu_ns(server); });
    r.other_pct = others.pct();
    r.server_cpu_us = static_cast<double>(thread_cpu_ns(server) - cpu0) / 1e3 / static_cast<double>(std::max<size_t>(r.d.n, 1));
    return r;
  };
  auto keep = [&](const QueryRow& r) {
    print_query(r);
    rows.push_back(r);
  };

  for (bool one_cpu : {false, true}) {  // Baseline 1: a bare echo thread, blocking recv()/send().
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    UniqueFd client(sv[0]), server(sv[1]);
    std::thread echo([&] {
      std::array<std::byte, proto::kMaxPacket> buf;
      while (::recv(server.get(), buf.data(), buf.size(), 0) > 0)
        if (::send(server.get(), reply_bytes.data(), reply_bytes.size(), MSG_NOSIGNAL) < 0) return;
    });
    keep(measure(query_row("baseline: SOCK_SEQPACKET ping-pong with an echo thread", "baseline", query_bytes.size(),
                           reply_bytes.size()),
                 client.get(), query_bytes, echo, one_cpu, hit));
    ::shutdown(client.get(), SHUT_RDWR);
    echo.join();
  }
  for (bool one_cpu : {false, true}) {  // Baseline 2: the daemon's packet I/O (epoll, recv_packet/send_packet), no work.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    UniqueFd client(sv[0]), server(sv[1]);
    const int fl = ::fcntl(client.get(), F_GETFL);
    ::fcntl(client.get(), F_SETFL, fl & ~O_NONBLOCK);
    std::thread echo([&] {
      UniqueFd ep = epoll_of({{server.get(), 0}});
      for (;;) {
        epoll_event ev{};
        if (::epoll_wait(ep.get(), &ev, 1, -1) != 1) continue;
        for (;;) {
          Packet req;
          std::string why;
          const auto got = proto::recv_packet(server.get(), req, why);
          if (got == proto::RecvResult::WouldBlock) break;
          if (got != proto::RecvResult::Ok) return;
          Packet rep = proto::make_packet(req.header.type | proto::kReplyBit, req.header.seq, req.header.vgpu);
          rep.append(answer);
          (void)proto::send_packet(server.get(), rep);
        }
      }
    });
    keep(measure(query_row("baseline: echo thread with the daemon's epoll + packet I/O", "baseline_io", query_bytes.size(),
                           reply_bytes.size()),
                 client.get(), query_bytes, echo, one_cpu, hit));
    ::shutdown(client.get(), SHUT_RDWR);
    echo.join();
  }
  {  // The daemon: one vGPU, 1080p desktop.
    Rig rig({1, Workload::Desktop, false});
    Conn c(rig.path);
    c.hello("query-bench");
    c.must(c.call(MsgType::Open, 1), "Open");
    for (int i = 0;; ++i) {
      proto::GfxPlaneInfo p{};
      if (c.must(c.call(query_packet(1, proto::kPlanePrimary)), "QueryPlane").read(p) && p.dmabuf_id != 0) break;
      if (i > 500) die("the primary plane never showed");
      sleep_s(0.01);
    }
    // The double buffer's two ids and the cursor's become known (exporter misses) before any row.
    for (int i = 0; i < 100; ++i) {
      (void)c.call(query_packet(1, proto::kPlanePrimary));
      (void)c.call(query_packet(1, proto::kPlaneCursor));
      sleep_s(0.002);
    }
    server::HostedVgpu& hv = *rig.host->vgpus()[0];
    auto misses = [&] {
      const Locked lk(hv.lock());
      return hv.port().exporter().counters().misses;
    };
    auto row = [&](std::string name, const std::vector<std::byte>& req, size_t reply_body,
                   const std::function<bool(const std::byte*, size_t)>& check) {
      for (bool one_cpu : {false, true}) {
        const uint64_t before = misses();
        QueryRow r = measure(query_row(name, "daemon", req.size(), sizeof(proto::Header) + reply_body), c.fd.get(), req,
                             rig.loop, one_cpu, check);
        r.new_ids = misses() - before;
        keep(r);
        if (r.new_ids) std::printf("    note: %lu new buffer id(s) during the row (not all cache hits)\n", static_cast<unsigned long>(r.new_ids));
      }
    };
    const auto poll_bytes = bytes_of(proto::make_packet(static_cast<uint16_t>(MsgType::PollEvents), 1, 1));
    row("vgpud PollEvents (a request with no plane work)", poll_bytes, sizeof(proto::EventsReply),
        [](const std::byte* b, size_t n) { return is_reply(b, n, MsgType::PollEvents, sizeof(proto::EventsReply)); });
    row("vgpud QueryPlane primary 1080p hit, guest flipping 60 Hz", query_bytes, sizeof(proto::GfxPlaneInfo), hit);
    rig.host->stop_guests();  // the plane stays on screen; the loop keeps running vblanks
    row("vgpud QueryPlane primary 1080p hit, guest stopped", query_bytes, sizeof(proto::GfxPlaneInfo), hit);
    row("vgpud QueryPlane cursor 64x64 hit, guest stopped", bytes_of(query_packet(1, proto::kPlaneCursor)),
        sizeof(proto::GfxPlaneInfo), hit);
  }
  std::vector<std::string> items;
  for (const auto& r : rows)
    items.push_back(JObj{}
                        .str("name", r.name)
                        .str("kind", r.kind)
                        .num("request_bytes", static_cast<double>(r.request_bytes))
                        .num("reply_bytes", static_cast<double>(r.reply_bytes))
                        .num("new_ids", static_cast<double>(r.new_ids))
                        .num("server_cpu_us_per_round_trip", r.server_cpu_us)
                        .num("other_processes_pct", r.other_pct)
                        .add("round_trip", dist_json(r.d))
                        .dump());
  write_file(o.out + "/daemon-query.json", JObj{}
                                               .str("benchmark", "query")
                                               .str("title", "QueryPlane round trip, id already known")
                                               .num("goal_p50_us", 10)
                                               .num("other_processes_pct", part_others.pct())
                                               .add("context", context)
                                               .add("rows", jlist(items))
                                               .dump());
}

}  // namespace vgd::daemon_bench
