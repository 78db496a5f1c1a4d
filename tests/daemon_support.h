// An in-process vgpud (host + server on a thread, guests running in real time) and a raw
// protocol connection to it, for the tests that talk to the daemon over its socket.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "proto/packet.h"
#include "server/server.h"

namespace vgd::test {

class RunningDaemon {
 public:
  // Starts the daemon on a socket named after `name` in the test's temp directory.
  void start(const DaemonConfig& cfg, const std::string& name, uint32_t max_clients = 64,
             std::optional<uint32_t> socket_group = std::nullopt) {
    path = fmt::format("{}/vgd-{}-{}.sock", ::testing::TempDir(), name, ::getpid());
    auto h = server::Host::create(cfg);
    ASSERT_TRUE(h.has_value()) << h.error();
    host = std::move(*h);
    auto s = server::Server::create(*host, {path, max_clients, false, socket_group});
    ASSERT_TRUE(s.has_value()) << s.error();
    srv = std::move(*s);
    host->start_guests();
    loop = std::thread([this] { rc = srv->run(); });
  }
  void stop() {
    if (srv) srv->request_stop();
    if (loop.joinable()) loop.join();
    if (host) host->stop_guests();
    srv.reset();
    host.reset();
  }
  ~RunningDaemon() { stop(); }

  std::string path;
  std::unique_ptr<server::Host> host;
  std::unique_ptr<server::Server> srv;
  std::thread loop;
  int rc = -1;
};

// One connection, one request at a time, raw packets.
struct Conn {
  UniqueFd fd;
  uint32_t seq = 0;

  explicit Conn(const std::string& path) : fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size());
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  }
  // Sends and waits (5 s at most) for the reply.
  proto::Packet call(proto::Packet req) {
    req.header.seq = ++seq;
    EXPECT_TRUE(proto::send_packet(fd.get(), req).has_value());
    return receive();
  }
  proto::Packet receive() {
    pollfd p{fd.get(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 5000), 1) << "no reply within 5 s";
    proto::Packet r;
    std::string why;
    EXPECT_EQ(proto::recv_packet(fd.get(), r, why), proto::RecvResult::Ok) << why;
    return r;
  }
  template <class Body>
  proto::Packet call(proto::MsgType t, uint32_t vgpu, const Body& body) {
    proto::Packet p = proto::make_packet(static_cast<uint16_t>(t), 0, vgpu);
    p.append(body);
    return call(std::move(p));
  }
  proto::Packet call(proto::MsgType t, uint32_t vgpu = 0) {
    return call(proto::make_packet(static_cast<uint16_t>(t), 0, vgpu));
  }
  void hello() { ASSERT_TRUE(ok(call(proto::MsgType::Hello, 0, proto::HelloRequest{}))); }
  // Opens the vGPU and hands the daemon a fresh eventfd for it; returns our end.
  UniqueFd subscribe(uint32_t vgpu) {
    EXPECT_TRUE(ok(call(proto::MsgType::Open, vgpu)));
    UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    proto::Packet set = proto::make_packet(static_cast<uint16_t>(proto::MsgType::SetEventfd), 0, vgpu);
    set.fds.emplace_back(::dup(efd.get()));
    EXPECT_TRUE(ok(call(std::move(set))));
    return efd;
  }
  static bool ok(const proto::Packet& r) { return r.header.type != proto::kError; }
};

// Waits up to 2 s for the eventfd and reads it (0 on timeout).
inline uint64_t next_event(const UniqueFd& efd) {
  pollfd p{efd.get(), POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return 0;
  uint64_t v = 0;
  return ::read(efd.get(), &v, sizeof v) == sizeof v ? v : 0;
}

inline proto::GfxPlaneInfo plane_request(uint32_t type, uint32_t flags = proto::kFlagDmabuf) {
  proto::GfxPlaneInfo q{};
  q.argsz = sizeof q;
  q.flags = flags;
  q.drm_plane_type = type;
  return q;
}

}  // namespace vgd::test
