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
#include <filesystem>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "exporter/query.h"
#include "proto/packet.h"
#include "ram_support.h"  // open_fds
#include "server/server.h"
#include "util/fd_passing.h"

namespace vgd::test {

class RunningDaemon {
 public:
  // Starts the daemon on a socket named after `name` in the test's temp directory, with `opt`
  // but for its path, and without handling signals (stop() ends it).
  void start(const DaemonConfig& cfg, const std::string& name, server::ServerOptions opt = {}) {
    path = fmt::format("{}/vgd-{}-{}.sock", ::testing::TempDir(), name, ::getpid());
    auto h = server::Host::create(cfg);
    ASSERT_TRUE(h.has_value()) << h.error();
    host = std::move(*h);
    opt.socket_path = path;
    opt.handle_signals = false;
    auto s = server::Server::create(*host, std::move(opt));
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

  explicit Conn(UniqueFd connected) : fd(std::move(connected)) {}  // made elsewhere (another process)
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

// The plane's query answer once the guest shows it (it boots in the first frames).
inline proto::GfxPlaneInfo shown(Conn& c, uint32_t vgpu, uint32_t plane) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  proto::GfxPlaneInfo r{};
  while (std::chrono::steady_clock::now() < until) {
    proto::Packet p = c.call(proto::MsgType::QueryPlane, vgpu, plane_request(plane));
    if (Conn::ok(p) && p.read(r) && !exporter::no_plane(r)) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ADD_FAILURE() << "vGPU " << vgpu << ": plane " << plane << " never shown";
  return r;
}

// A packet's bytes: a well-formed header and `body` zero bytes.
inline std::vector<char> packet_bytes(uint16_t type, uint32_t seq, uint32_t vgpu, size_t body = 0) {
  proto::Header h;
  h.type = type, h.seq = seq, h.vgpu = vgpu;
  std::vector<char> b(sizeof h + body, 0);
  std::memcpy(b.data(), &h, sizeof h);
  return b;
}

// Sends raw bytes with `nfds` descriptors (copies of stdin) attached.
inline void send_raw(Conn& c, const std::vector<char>& bytes, size_t nfds = 0) {
  std::vector<int> fds(nfds);
  for (int& fd : fds) fd = ::dup(0);
  ASSERT_EQ(send_with_fds(c.fd.get(), std::as_bytes(std::span(bytes)), fds), static_cast<ssize_t>(bytes.size()))
      << std::strerror(errno);
  for (int fd : fds) ::close(fd);
}

// The reply to a broken packet: EPROTO with the given seq and vGPU, then the connection closes.
inline void expect_fatal(Conn& c, uint32_t seq, uint32_t vgpu, const char* what) {
  const proto::Packet r = c.receive();
  EXPECT_EQ(r.header.type, proto::kError) << what;
  EXPECT_EQ(proto::error_code(r), proto::Status::Protocol) << what << ": " << proto::error_text(r);
  EXPECT_EQ(r.header.seq, seq) << what;
  EXPECT_EQ(r.header.vgpu, vgpu) << what;
  pollfd p{c.fd.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << what << ": the daemon neither closed nor answered again";
  char byte;
  EXPECT_EQ(::recv(c.fd.get(), &byte, 1, MSG_DONTWAIT), 0) << what << ": closed after the error";
}

}  // namespace vgd::test
