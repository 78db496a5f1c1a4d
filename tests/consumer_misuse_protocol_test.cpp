// Consumers that misuse the conversation itself (misuse_support.h): lies about the protocol
// version, Hello missing, repeated or short, requests shorter than their struct, clients that
// stall, one that never reads its replies, ones that hang up with descriptors in flight. Each is
// answered as docs/protocol.md §1, §2, §3.1 and §6 say (EPROTO and the close, or the connection
// dropped), counted, leaks nothing, and the viewer on the same vGPU never notices.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "misuse_support.h"

namespace vgd::test {
namespace {

using proto::MsgType;
using proto::Packet;
using proto::Status;

constexpr uint16_t kHello = static_cast<uint16_t>(MsgType::Hello);

// A Hello's bytes: its header's version and the body's client_version as given, `body` bytes
// of body (the 40 of HelloRequest, or fewer, or more).
std::vector<char> hello_bytes(uint32_t seq, uint16_t header_version, uint32_t client_version,
                              size_t body = sizeof(proto::HelloRequest)) {
  std::vector<char> b = packet_bytes(kHello, seq, 0, body);
  std::memcpy(b.data() + offsetof(proto::Header, version), &header_version, sizeof header_version);
  std::memcpy(b.data() + sizeof(proto::Header), &client_version, std::min(body, sizeof client_version));
  return b;
}

// §2, §3.1, §6: every lie is EPROTO, echoing the packet's seq and vGPU, and the end of that
// connection; nobody else notices.
TEST_F(MisuseTest, LiesAboutTheProtocolVersionEndThatConnectionOnly) {
  const size_t fds_before = open_fds();
  const uint64_t malformed_before = stats().malformed;
  enum Before : uint8_t { Nothing, Hello, Open };  // what the connection did first
  struct Lie {
    const char* what;
    Before before;
    std::vector<char> bytes;
    size_t fds = 0;
    uint32_t vgpu = 0;
  };
  const Lie lies[] = {
      {"header version 0", Nothing, hello_bytes(11, 0, 1)},
      {"header version 2", Nothing, hello_bytes(12, 2, 2)},
      {"header version 0xffff", Nothing, hello_bytes(13, 0xffff, 1)},
      {"client_version 0", Nothing, hello_bytes(14, 1, 0)},
      {"a Hello of 20 bytes", Nothing, hello_bytes(15, 1, 1, 20)},
      {"a Hello with a descriptor", Nothing, hello_bytes(16, 1, 1), 1},
      {"QueryPlane before Hello", Nothing, packet_bytes(static_cast<uint16_t>(MsgType::QueryPlane), 17, kVgpu, 64), 0, kVgpu},
      {"SetEventfd with a descriptor before Hello", Nothing, packet_bytes(static_cast<uint16_t>(MsgType::SetEventfd), 18, kVgpu),
       1, kVgpu},
      {"a second Hello, version 1", Hello, hello_bytes(19, 1, 1)},
      {"a second Hello, version 2", Hello, hello_bytes(20, 1, 2)},
      {"GetBuffer with 4 bytes of its 8", Open, packet_bytes(static_cast<uint16_t>(MsgType::GetBuffer), 21, kVgpu, 4), 0,
       kVgpu},
  };
  for (const Lie& l : lies) {
    Conn c(path);
    if (l.before != Nothing) c.hello();
    if (l.before == Open) {
      ASSERT_TRUE(Conn::ok(c.call(MsgType::Open, kVgpu)));
    }
    send_raw(c, l.bytes, l.fds);
    uint32_t seq;
    std::memcpy(&seq, l.bytes.data() + offsetof(proto::Header, seq), sizeof seq);
    expect_fatal(c, seq, l.vgpu, l.what);
  }
  viewer->look("after the lies");
  settle(1);
  EXPECT_EQ(stats().malformed - malformed_before, std::size(lies)) << "every one counted";
  EXPECT_EQ(open_fds(), fds_before) << "their descriptors closed";

  // Not lies: client_version is the newest version the client speaks, and its headers say it
  // speaks 1 too; a Hello may be longer than version 1's (fields appended later).
  for (const auto& bytes : {hello_bytes(1, 1, 2), hello_bytes(1, 1, 0xffffffff), hello_bytes(1, 1, 1, 100)}) {
    Conn c(path);
    send_raw(c, bytes);
    proto::HelloReply h;
    ASSERT_TRUE(c.receive().read(h));
    EXPECT_EQ(h.server_version, 1u) << "the client goes on in version 1";
    c.seq = 1;
    EXPECT_TRUE(Conn::ok(c.call(MsgType::List)));
  }
  viewer->look("after the newer clients");
}

// A SOCK_SEQPACKET packet arrives whole or not at all: "half a message" is a client that
// connected and said nothing, or said Hello and nothing more, or stopped reading mid-session.
// The daemon never waits for any of them (each client is polled; non-blocking sockets).
TEST_F(MisuseTest, ClientsThatStallBlockNobody) {
  std::vector<std::unique_ptr<Conn>> stalled;
  for (int i = 0; i < 8; ++i) {
    stalled.push_back(std::make_unique<Conn>(path));  // silent after connect
    stalled.push_back(consumer());                    // silent after Open
  }
  // A stream socket cannot even connect: the kernel keeps the types apart.
  const UniqueFd stream(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size());
  EXPECT_NE(::connect(stream.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  for (int i = 0; i < 5; ++i) viewer->look("while 16 clients stall");
  Conn late(path);
  late.hello();
  EXPECT_TRUE(Conn::ok(late.call(MsgType::List))) << "a new client is served";
  EXPECT_EQ(stats().errors, 0u);
}

// §1: the daemon sends a reply only if the client's queue takes it; a client that does not read
// its replies fills it and is closed (counted), rather than the daemon waiting for it.
TEST_F(MisuseTest, AClientThatNeverReadsItsRepliesIsClosedNotWaitedFor) {
  auto deaf = consumer();
  const uint64_t unread_before = stats().unread;
  std::vector<char> query = packet_bytes(static_cast<uint16_t>(MsgType::QueryPlane), 0, kVgpu, sizeof(proto::GfxPlaneInfo));
  const proto::GfxPlaneInfo primary = plane_request(proto::kPlanePrimary);
  std::memcpy(query.data() + sizeof(proto::Header), &primary, sizeof primary);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool closed = false;
  uint32_t sent = 0;
  while (!closed && std::chrono::steady_clock::now() < until) {
    if (::send(deaf->fd.get(), query.data(), query.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
      if (++sent % 100 == 0) viewer->look("while a client leaves its replies unread");
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) {
      closed = true;
    } else {  // our own queue is full: the daemon reads it as it serves everyone
      ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
      pollfd p{deaf->fd.get(), POLLOUT, 0};
      (void)::poll(&p, 1, 100);
    }
  }
  ASSERT_TRUE(closed) << "the daemon neither closed the client nor stopped reading within 30 s";
  std::cout << sent << " queries sent before the daemon closed the client\n";
  EXPECT_EQ(stats().unread - unread_before, 1u) << "counted";
  viewer->look("after the daemon closed the deaf client");
}

// §1: descriptors in replies a client has not read are the daemon's open files' business too
// (the kernel refuses sends past its limit, and everyone's buffers would fail): past
// Server::kMaxUnreadFds of them, that client's GetBuffers are EAGAIN until it reads.
TEST_F(MisuseTest, AClientThatNeverReadsItsDescriptorsGetsNoMoreUntilItDoes) {
  auto deaf = consumer();
  const uint32_t id = shown(*deaf, kVgpu, proto::kPlanePrimary).dmabuf_id;
  constexpr uint32_t kPairs = 2 * server::Server::kMaxUnreadFds;
  for (uint32_t i = 0; i < kPairs; ++i) {  // pipelined, nothing read
    Packet get = proto::make_packet(static_cast<uint16_t>(MsgType::GetBuffer), 1000 + i, kVgpu);
    get.append(proto::BufferRequest{id});
    ASSERT_TRUE(proto::send_packet(deaf->fd.get(), get));
    Packet rel = proto::make_packet(static_cast<uint16_t>(MsgType::Release), 5000 + i, kVgpu);
    rel.append(proto::ReleaseRequest{id});
    ASSERT_TRUE(proto::send_packet(deaf->fd.get(), rel));
  }
  viewer->look("while a client leaves descriptors unread");
  uint32_t fds = 0, refused = 0;
  for (uint32_t i = 0; i < 2 * kPairs; ++i) {
    const Packet r = deaf->receive();
    if (r.header.seq >= 5000) continue;  // a Release: ENOENT after a refused GetBuffer
    fds += static_cast<uint32_t>(r.fds.size());
    if (Conn::ok(r)) continue;
    ++refused;
    EXPECT_EQ(proto::error_code(r), Status::Again);
    EXPECT_NE(proto::error_text(r).find("read them first"), std::string::npos) << proto::error_text(r);
  }
  EXPECT_LE(fds, server::Server::kMaxUnreadFds + 1) << "descriptors in flight stay bounded";
  EXPECT_GE(refused, kPairs / 2 - 1);
  const Packet again = deaf->call(MsgType::GetBuffer, kVgpu, proto::BufferRequest{id});
  EXPECT_TRUE(Conn::ok(again)) << "read, it gets buffers again: " << proto::error_text(again);
  viewer->look("after");
}

// A client that hangs up with requests and their descriptors in flight: what the daemon got is
// closed with the connection (eventfds, stray descriptors), nothing stays in the port.
TEST_F(MisuseTest, ClientsHangingUpWithDescriptorsInFlightLeakNothing) {
  settle(1);
  const size_t fds_before = open_fds();
  const uint64_t consumers_before = port().event_consumers;
  for (int i = 0; i < 50; ++i) {
    auto c = consumer();
    const UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), memfd(::memfd_create("misuse", MFD_CLOEXEC));
    Packet set = proto::make_packet(static_cast<uint16_t>(MsgType::SetEventfd), 100, kVgpu);
    set.fds.emplace_back(::dup(efd.get()));
    ASSERT_TRUE(proto::send_packet(c->fd.get(), set));
    send_raw(*c, packet_bytes(static_cast<uint16_t>(MsgType::QueryPlane), 101, kVgpu, 64), proto::kMaxFds);
    Packet stray = proto::make_packet(static_cast<uint16_t>(MsgType::SetEventfd), 102, kVgpu);
    stray.fds.emplace_back(::dup(memfd.get()));
    ASSERT_TRUE(proto::send_packet(c->fd.get(), stray));
    if (i % 10 == 0) viewer->look("while clients hang up mid-request");
  }  // each goes with its requests unanswered, or answered to nobody
  settle(1);
  EXPECT_EQ(port().event_consumers, consumers_before);
  EXPECT_EQ(open_fds(), fds_before);
  viewer->look("after");
}

}  // namespace
}  // namespace vgd::test
