// libvgd-client's connection: handshake, request/reply matching, errors. Against a fake
// daemon (client_fake_daemon.h), no vgpud needed.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>

#include "client/client.h"
#include "client_fake_daemon.h"
#include "config/daemon_config.h"

namespace vgd::client {
namespace {

using namespace std::chrono_literals;
using proto::MsgType;
using proto::Packet;
using proto::Status;
using test::FakeDaemon;
using test::reply_to;

TEST(Client, HelloHandshakeThenList) {
  FakeDaemon d;
  auto conn = d.connect();
  ASSERT_TRUE(conn) << describe(conn.error());
  EXPECT_EQ(conn->server().version, proto::kVersion);
  EXPECT_EQ(conn->server().vgpus, 2u);
  EXPECT_EQ(d.client_name(), "test");
  auto list = conn->list();
  ASSERT_TRUE(list) << describe(list.error());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].id, 2u);
  EXPECT_EQ((*list)[1].workload, "video");
  EXPECT_EQ((*list)[0].type, "GVTg_V5_8");
  EXPECT_EQ((*list)[0].refresh_mhz, 60000u);
  EXPECT_EQ(d.types(), (std::vector<uint16_t>{1, 2}));  // Hello first, then List
}

TEST(Client, RefusedHelloSurfacesTheDaemonsError) {
  FakeDaemon d;
  d.set_hook([](const Packet& req) { return std::optional(proto::make_error(req.header, Status::Protocol, "go away")); });
  auto conn = d.connect();
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().code, Status::Protocol);
  EXPECT_NE(conn.error().message.find("go away"), std::string::npos);
}

TEST(Client, ReplyWithAnotherSeqIsAProtocolErrorAndBreaksTheConnection) {
  FakeDaemon d;
  auto conn = d.connect();
  ASSERT_TRUE(conn);
  d.set_hook([](const Packet& req) {
    Packet r = reply_to(req);
    r.header.seq += 1;
    r.append(proto::ListReply{});
    return std::optional(std::move(r));
  });
  auto list = conn->list();
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code, Status::Protocol);
  EXPECT_NE(list.error().message.find("seq"), std::string::npos) << list.error().message;
  // A late reply would be taken for the next request's: the connection stays broken.
  d.set_hook(nullptr);
  EXPECT_FALSE(conn->list());
  EXPECT_EQ(d.count(MsgType::List), 1u);
}

TEST(Client, ReplyOfAnotherTypeIsAProtocolError) {
  FakeDaemon d;
  auto conn = d.connect();
  ASSERT_TRUE(conn);
  d.set_hook([](const Packet& req) {
    return std::optional(proto::make_packet(static_cast<uint16_t>(MsgType::Open) | proto::kReplyBit, req.header.seq, 0));
  });
  auto list = conn->list();
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code, Status::Protocol);
}

TEST(Client, ErrorRepliesCarryCodeAndMessageAndKeepTheConnection) {
  FakeDaemon d;
  auto conn = d.connect();
  ASSERT_TRUE(conn);
  auto missing = conn->open(7);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Status::NoEntry);
  EXPECT_EQ(missing.error().message, "no vGPU");
  EXPECT_EQ(describe(missing.error()), "ENOENT: no vGPU");

  auto vgpu = conn->open(1);
  ASSERT_TRUE(vgpu);
  d.set_hook([](const Packet& req) -> std::optional<Packet> {
    if (req.header.type != static_cast<uint16_t>(MsgType::QueryPlane)) return std::nullopt;
    return proto::make_error(req.header, Status::Fault, "surface 0x1000 outside the aperture slice");
  });
  auto q = vgpu->query(proto::kPlanePrimary);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Status::Fault);
  EXPECT_EQ(q.error().message, "surface 0x1000 outside the aperture slice");
  EXPECT_TRUE(conn->list()) << "an error reply is an answer, not a broken connection";
}

// Whatever the daemon's error reply lacks, the caller gets a code and a message to show (found
// by fuzz/client_fuzz.cpp): no message is said to be none; no body, or a code that is not a
// negated errno, is a malformed reply that breaks the connection.
TEST(Client, ErrorRepliesWithoutAMessageOrABodyStillSayWhatHappened) {
  FakeDaemon d;
  auto conn = d.connect();
  ASSERT_TRUE(conn);
  d.set_hook([](const Packet& req) { return std::optional(proto::make_error(req.header, Status::Invalid, "")); });
  auto silent = conn->list();
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().code, Status::Invalid);
  EXPECT_NE(silent.error().message.find("without saying why"), std::string::npos) << silent.error().message;

  d.set_hook([](const Packet& req) { return std::optional(proto::make_packet(proto::kError, req.header.seq, 0)); });
  auto bodiless = conn->list();
  ASSERT_FALSE(bodiless);
  EXPECT_EQ(bodiless.error().code, Status::Protocol);
  EXPECT_NE(bodiless.error().message.find("malformed error reply"), std::string::npos) << bodiless.error().message;
  EXPECT_FALSE(conn->list()) << "the connection is broken";

  FakeDaemon ok_code;
  auto conn2 = ok_code.connect();
  ASSERT_TRUE(conn2);
  ok_code.set_hook([](const Packet& req) { return std::optional(proto::make_error(req.header, Status::Ok, "fine?")); });
  auto zero = conn2->list();
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, Status::Protocol) << "an error reply with code 0";
}

TEST(Client, NoReplyInTimeBreaksTheConnection) {
  FakeDaemon d;
  auto conn = Connection::adopt(d.start(), "test", ConnectOptions{100ms});
  ASSERT_TRUE(conn);
  d.set_hook([](const Packet& req) -> std::optional<Packet> {
    std::this_thread::sleep_for(300ms);  // the reply comes too late
    return reply_to(req);
  });
  auto list = conn->list();
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("no reply"), std::string::npos) << list.error().message;
}

TEST(Client, ConnectToAMissingDaemonNamesThePath) {
  auto conn = Connection::connect("/nonexistent-dir/vgpud.sock", "test");
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().code, static_cast<Status>(-ENOENT));
  EXPECT_NE(conn.error().message.find("/nonexistent-dir/vgpud.sock"), std::string::npos);
}

TEST(Client, DefaultSocketPathIsTheDaemons) {
  const char* saved = std::getenv("XDG_RUNTIME_DIR");
  const std::string keep = saved ? saved : "";
  ::setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
  EXPECT_EQ(default_socket_path(), "/run/user/1234/vgpud.sock");
  EXPECT_EQ(default_socket_path(), vgd::default_socket_path());
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(default_socket_path(), vgd::default_socket_path());
  if (saved) ::setenv("XDG_RUNTIME_DIR", keep.c_str(), 1);
}

}  // namespace
}  // namespace vgd::client
