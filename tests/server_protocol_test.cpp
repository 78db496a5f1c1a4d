// What docs/protocol.md promises about ids, references and errors, checked over the socket with
// raw packets against a daemon hosting one desktop guest (double-buffered primary, a cursor):
// ids stay stable and are never given twice, a query guarantees that consumer's GetBuffer
// whatever other consumers do, and every malformed or unknown request is EPROTO, echoes the
// request's seq and vGPU, and closes the connection.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include "daemon_support.h"
#include "util/fd_passing.h"
#include "proto/packet.h"

namespace vgd {
namespace {

using proto::MsgType;
using proto::Packet;
using proto::Status;
using test::Conn;
using test::expect_fatal;
using test::packet_bytes;
using test::plane_request;
using test::send_raw;

constexpr uint32_t kVgpu = 1;

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonConfig cfg;
    cfg.vgpus = {VgpuSpec{}};  // one desktop
    cfg.vgpus[0].access.trusted_uids = {::getuid()};  // ids and references of guest-memory buffers
    daemon.start(cfg, "protocol");
  }
  void TearDown() override { daemon.stop(); }

  // A greeted connection with the vGPU open.
  std::unique_ptr<Conn> consumer() {
    auto c = std::make_unique<Conn>(daemon.path);
    c->hello();
    EXPECT_TRUE(Conn::ok(c->call(MsgType::Open, kVgpu)));
    return c;
  }
  static proto::GfxPlaneInfo shown(Conn& c, uint32_t plane) { return test::shown(c, kVgpu, plane); }
  static Packet get(Conn& c, uint32_t id) { return c.call(MsgType::GetBuffer, kVgpu, proto::BufferRequest{id}); }
  static Packet release(Conn& c, uint32_t id) { return c.call(MsgType::Release, kVgpu, proto::ReleaseRequest{id}); }

  test::RunningDaemon daemon;
};

// --- ids and references ---

// A consumer that fetches and releases every frame: the primary's buffers and the cursor's
// never share a number, and each id keeps naming the plane it was first given for.
TEST_F(ProtocolTest, FetchingAndReleasingEachFrameKeepsPrimaryAndCursorIdsApart) {
  auto c = consumer();
  std::map<uint32_t, uint32_t> plane_of;  // id -> plane type it was answered for
  for (int frame = 0; frame < 40; ++frame) {
    uint32_t ids[2] = {};
    for (uint32_t plane : {proto::kPlanePrimary, proto::kPlaneCursor}) {
      const uint32_t id = shown(*c, plane).dmabuf_id;
      ASSERT_TRUE(Conn::ok(get(*c, id))) << "frame " << frame;
      ASSERT_TRUE(Conn::ok(release(*c, id)));
      const auto [it, fresh] = plane_of.emplace(id, plane);
      EXPECT_EQ(it->second, plane) << "id " << id << " named another plane before (frame " << frame << ")";
      ids[plane == proto::kPlaneCursor] = id;
    }
    EXPECT_NE(ids[0], ids[1]) << "frame " << frame;
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
  }
  EXPECT_EQ(plane_of.size(), 3u) << "the desktop's two primary buffers and its cursor, each under one id";
}

// A queries, B fetches and releases that id, A fetches it: A's query guaranteed it.
TEST_F(ProtocolTest, AQueryGuaranteesThatConsumersGetBufferWhateverOthersDo) {
  auto a = consumer(), b = consumer();
  for (int round = 0; round < 30; ++round) {
    const uint32_t x = shown(*a, proto::kPlanePrimary).dmabuf_id;
    ASSERT_TRUE(Conn::ok(get(*b, x)));
    ASSERT_TRUE(Conn::ok(release(*b, x)));
    const Packet r = get(*a, x);
    ASSERT_TRUE(Conn::ok(r)) << "round " << round << ": " << proto::error_text(r);
    EXPECT_EQ(proto::error_code(release(*b, x)), Status::NoEntry) << "B cannot return A's reference";
    ASSERT_TRUE(Conn::ok(release(*a, x)));
  }
}

TEST_F(ProtocolTest, CloseReturnsOnlyThatConsumersReferences) {
  auto a = consumer(), b = consumer();
  const uint32_t x = shown(*a, proto::kPlanePrimary).dmabuf_id;
  ASSERT_TRUE(Conn::ok(get(*a, x)));
  ASSERT_TRUE(Conn::ok(get(*b, x)));
  ASSERT_TRUE(Conn::ok(a->call(MsgType::Close, kVgpu)));
  {
    server::HostedVgpu& hv = *daemon.host->find(kVgpu);
    const Locked lk(hv.lock());
    EXPECT_EQ(hv.port().exporter().exports_of(x), 1u) << "B's reference only";
  }
  EXPECT_TRUE(Conn::ok(release(*b, x)));
}

// --- errors (docs/protocol.md §2, §3, §6) ---

TEST_F(ProtocolTest, AnUnknownTypeIsEprotoWhateverTheVgpusState) {
  struct Case {
    uint32_t vgpu;
    bool open;
    const char* what;
  };
  for (const Case& k : {Case{0, false, "no vGPU named"}, Case{9, false, "no such vGPU"},
                        Case{kVgpu, false, "a vGPU not open"}, Case{kVgpu, true, "an open vGPU"}}) {
    Conn c(daemon.path);
    c.hello();
    if (k.open) {
      ASSERT_TRUE(Conn::ok(c.call(MsgType::Open, kVgpu)));
    }
    send_raw(c, packet_bytes(42, 77, k.vgpu));
    expect_fatal(c, 77, k.vgpu, k.what);
  }
  Conn reply_type(daemon.path);  // a reply's type sent as a request is unknown too
  reply_type.hello();
  send_raw(reply_type, packet_bytes(static_cast<uint16_t>(MsgType::List) | proto::kReplyBit, 5, 0));
  expect_fatal(reply_type, 5, 0, "a reply type");
}

TEST_F(ProtocolTest, OversizedPacketsAndTooManyDescriptorsEchoTheRequestsSeqAndVgpu) {
  Conn big(daemon.path);
  big.hello();
  send_raw(big, packet_bytes(static_cast<uint16_t>(MsgType::List), 31, 3, proto::kMaxPacket));
  expect_fatal(big, 31, 3, "a packet over 64 KiB");

  Conn fds(daemon.path);
  fds.hello();
  ASSERT_TRUE(Conn::ok(fds.call(MsgType::Open, kVgpu)));
  send_raw(fds, packet_bytes(static_cast<uint16_t>(MsgType::SetEventfd), 32, kVgpu), proto::kMaxFds + 1);
  expect_fatal(fds, 32, kVgpu, "five descriptors");

  Conn magic(daemon.path);
  std::vector<char> bad = packet_bytes(static_cast<uint16_t>(MsgType::Hello), 33, 4, sizeof(proto::HelloRequest));
  bad[0] ^= 0x20;
  send_raw(magic, bad);
  expect_fatal(magic, 33, 4, "a bad magic");
}

TEST_F(ProtocolTest, EmptyAndShortPacketsAreAnsweredBeforeTheClose) {
  Conn empty(daemon.path);
  empty.hello();
  send_raw(empty, {});
  expect_fatal(empty, 0, 0, "an empty packet");

  Conn short_header(daemon.path);
  send_raw(short_header, std::vector<char>(5, 'x'));
  expect_fatal(short_header, 0, 0, "5 bytes");
  EXPECT_EQ(daemon.srv->stats().malformed, 2u);
}

// A client that pipelines (§1) past a request that ends its connection: the requests after it
// are never answered, but the replies before it and the EPROTO are still read, then the end.
// Closing a socket with packets unread resets the connection, and the client's next receive
// reported ECONNRESET before the queued replies (found by fuzz/server_fuzz.cpp). The daemon's
// loop is turned here, once everything is sent, so the unread requests are there every time.
TEST(ProtocolPipelineTest, RequestsAfterAFatalOneDoNotResetTheConnectionBeforeItsReplies) {
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};
  auto host = server::Host::create(cfg);
  ASSERT_TRUE(host.has_value()) << host.error();
  const std::string path = fmt::format("{}/vgd-pipeline-{}.sock", ::testing::TempDir(), ::getpid());
  auto srv = server::Server::create(**host, {.socket_path = path, .max_clients = 8, .handle_signals = false});
  ASSERT_TRUE(srv.has_value()) << srv.error();
  const auto turn = [&] {
    while ((*srv)->serve_pending(0) == server::Server::Turn::Served) {
    }
  };
  Conn c(path);
  turn();  // accepted
  proto::Packet hello = proto::make_packet(static_cast<uint16_t>(MsgType::Hello), 1, 0);
  hello.append(proto::HelloRequest{});
  ASSERT_TRUE(proto::send_packet(c.fd.get(), hello));
  send_raw(c, packet_bytes(42, 2, 0));
  for (uint32_t seq = 3; seq < 8; ++seq) send_raw(c, packet_bytes(static_cast<uint16_t>(MsgType::List), seq, 0));
  turn();
  const Packet r = c.receive();
  EXPECT_EQ(r.header.type, static_cast<uint16_t>(MsgType::Hello) | proto::kReplyBit);
  expect_fatal(c, 2, 0, "an unknown type with requests queued behind it");
}

}  // namespace
}  // namespace vgd
