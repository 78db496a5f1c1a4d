// server_fuzz's daemon: a real server::Host and server::Server made once for the whole run and
// served on the fuzzer's thread (Server::serve_pending), with the setup that leaves its planes
// on screen, and the harness's own well-behaved requests (docs/protocol.md §10).
#pragma once

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fuzz_check.h"
#include "proto/packet.h"
#include "proto/plane_abi.h"
#include "server/server.h"

namespace vgd::fuzz {

using proto::MsgType;
using proto::Packet;

// Four vGPUs: tearing none, hold and copy (builtin guests, stopped once their planes show), and
// one waiting for a QEMU VM.
inline constexpr uint32_t kVgpus = 4, kVmVgpu = 4;

struct Daemon {
  std::string dir, path;
  std::unique_ptr<server::Host> host;
  std::unique_ptr<server::Server> srv;

  // Turns the loop until it has nothing left to do.
  void pump() const {
    for (int i = 0; i < 10000; ++i) {
      const auto t = srv->serve_pending(0);
      CHECK(t == server::Server::Turn::Served || t == server::Server::Turn::Idle);
      if (t == server::Server::Turn::Idle) return;
    }
    CHECK(!"the daemon's loop never went idle");
  }
};

// One request of the harness's own, answered successfully.
inline Packet call(const Daemon& d, UniqueFd& sock, MsgType type, uint32_t vgpu, std::vector<std::byte> body = {}) {
  Packet p = proto::make_packet(static_cast<uint16_t>(type), 1, vgpu);
  p.body = std::move(body);
  CHECK(proto::send_packet(sock.get(), p));
  d.pump();
  Packet r;
  std::string why;
  CHECK(proto::recv_packet(sock.get(), r, why) == proto::RecvResult::Ok);
  CHECK(r.header.type == (p.header.type | proto::kReplyBit));
  return r;
}

template <class T>
std::vector<std::byte> body_of(const T& v) {
  std::vector<std::byte> b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

inline UniqueFd connect_to(const Daemon& d) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, d.path.c_str(), d.path.size());
  CHECK(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  d.pump();
  return fd;
}

// The daemon keeps serving: a new client says Hello and lists the vGPUs.
inline void check_alive(const Daemon& d) {
  UniqueFd c = connect_to(d);
  (void)call(d, c, MsgType::Hello, 0, body_of(proto::HelloRequest{}));
  proto::ListReply l;
  CHECK(call(d, c, MsgType::List, 0).read(l) && l.count == kVgpus);
  c.reset();
  d.pump();
}

inline proto::GfxPlaneInfo query_primary(const Daemon& d, UniqueFd& c, uint32_t id) {
  proto::GfxPlaneInfo q{};
  q.argsz = sizeof q, q.flags = proto::kFlagDmabuf, q.drm_plane_type = proto::kPlanePrimary;
  CHECK(call(d, c, MsgType::QueryPlane, id, body_of(q)).read(q));
  return q;
}

// Polls the daemon until `done`, for up to two minutes (the guests boot under ASan meanwhile).
template <class F>
void wait_for(const Daemon& d, F done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!done()) {
    CHECK(std::chrono::steady_clock::now() < give_up);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    d.pump();
  }
}

// Runs the guests until each shows its primary, then stops them: planes stay on, nothing moves.
// What the daemon makes once and keeps is made here, so that an input's descriptors can be
// counted: both shadow frames of the copy vGPU (the second is made while a consumer holds the
// first), and the link a VM leaves behind until the next one attaches.
inline void show_planes(const Daemon& d) {
  d.host->start_guests();
  UniqueFd c = connect_to(d);
  (void)call(d, c, MsgType::Hello, 0, body_of(proto::HelloRequest{}));
  for (uint32_t id = 1; id < kVmVgpu; ++id) {
    (void)call(d, c, MsgType::Open, id);
    wait_for(d, [&] { return query_primary(d, c, id).size != 0; });
  }
  const uint32_t copy = 3, first = query_primary(d, c, copy).dmabuf_id;
  (void)call(d, c, MsgType::GetBuffer, copy, body_of(proto::BufferRequest{first}));
  wait_for(d, [&] {
    const auto q = query_primary(d, c, copy);
    return q.size != 0 && q.dmabuf_id != first;
  });
  d.host->stop_guests();
  UniqueFd vm = std::move(call(d, c, MsgType::AttachVm, kVmVgpu).fds.at(0));
  vm.reset();
  wait_for(d, [&] { return !d.host->find(kVmVgpu)->vm_attached(); });
  c.reset();
  d.pump();
}

inline const Daemon& daemon() {
  static const Daemon* d = [] {
    spdlog::set_level(spdlog::level::off);
    auto* s = new Daemon;
    char dir[] = "/tmp/vgd-server-fuzz-XXXXXX";
    CHECK(::mkdtemp(dir) != nullptr);
    s->dir = dir;
    s->path = s->dir + "/vgpud.sock";
    DaemonConfig cfg;
    cfg.vgpus = {VgpuSpec{}, VgpuSpec{}, VgpuSpec{"GVTg_V5_8", Workload::Video}, VgpuSpec{}};
    cfg.vgpus[1].tearing = TearingMode::Hold;
    cfg.vgpus[2].tearing = TearingMode::Copy;
    cfg.vgpus[3].guest = GuestKind::Qemu;
    cfg.host_display.backend = HostDisplayConfig::Backend::Virtual;
    cfg.host_display.outputs = {{"Virtual-1", 1024, 768, 60}};
    auto host = server::Host::create(cfg);
    if (!host) std::fprintf(stderr, "host: %s\n", host.error().c_str());
    CHECK(host.has_value());
    s->host = std::move(*host);
    // No Hello deadline: a wall-clock timer would make an input's outcome depend on how fast
    // it ran (the deadline has its own tests, server_hello_test).
    auto srv = server::Server::create(*s->host, {.socket_path = s->path, .handle_signals = false, .hello_timeout_ms = 0});
    CHECK(srv.has_value());
    s->srv = std::move(*srv);
    show_planes(*s);
    std::atexit([] {
      ::unlink(d->path.c_str());
      ::rmdir(d->dir.c_str());
    });
    return s;
  }();
  return *d;
}

}  // namespace vgd::fuzz
