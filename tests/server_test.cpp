// vgpud's server with its demo guests running in real time, spoken to over its socket with raw
// protocol packets (docs/protocol.md), as a consumer in another language would.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "events/event_value.h"
#include "hw/formats.h"
#include "proto/packet.h"
#include "daemon_support.h"
#include "server/server.h"

namespace vgd {
namespace {

constexpr uint32_t kVideo = 3;  // the default vGPUs: 1 desktop, 2 console, 3 video

using proto::MsgType;
using proto::Packet;
using proto::Status;

long rss_kib() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

using test::Conn;
using test::open_fds;
using test::next_event;
using test::plane_request;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon.start(config(), "server");
    path = daemon.path;
    host = daemon.host.get();
    srv = daemon.srv.get();
  }
  void TearDown() override { daemon.stop(); }
  // The embedded defaults: vGPU 1 desktop, vGPU 2 console, vGPU 3 video.
  virtual DaemonConfig config() const { return {}; }
  // Queries until the guest's primary plane shows (it boots in the first frames).
  proto::GfxPlaneInfo primary(Conn& c, uint32_t vgpu) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    proto::GfxPlaneInfo r{};
    while (std::chrono::steady_clock::now() < until) {
      Packet p = c.call(MsgType::QueryPlane, vgpu, plane_request(proto::kPlanePrimary));
      if (Conn::ok(p) && p.read(r) && r.drm_format != 0) return r;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << "vGPU " << vgpu << " never showed a primary plane";
    return r;
  }

  test::RunningDaemon daemon;
  std::string path;
  server::Host* host = nullptr;
  server::Server* srv = nullptr;
};

TEST_F(ServerTest, HelloMustComeFirstAndListNamesTheGuests) {
  Conn rude(path);
  Packet r = rude.call(MsgType::List);
  EXPECT_EQ(r.header.type, proto::kError);
  EXPECT_EQ(proto::error_code(r), Status::Protocol);
  char byte;
  EXPECT_EQ(::recv(rude.fd.get(), &byte, 1, 0), 0) << "closed after a protocol error";

  Conn c(path);
  c.hello();
  Packet list = c.call(MsgType::List);
  proto::ListReply lr;
  ASSERT_TRUE(list.read(lr));
  ASSERT_EQ(lr.count, 3u);
  proto::VgpuEntry e[3];
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(list.read(e[i], sizeof lr + i * sizeof e[0]));
  EXPECT_STREQ(e[0].type, "GVTg_V5_8");
  EXPECT_STREQ(e[0].workload, "desktop");
  EXPECT_STREQ(e[1].workload, "console");
  EXPECT_STREQ(e[2].workload, "video");
  EXPECT_EQ(list.header.seq, c.seq) << "replies echo the request's seq";
}

// The socket file: never a wider mode than 0660 whatever the umask, nothing but a leftover
// socket replaced, and only our own socket removed at exit (docs/protocol.md §1).
TEST_F(ServerTest, TheSocketFileIsExactly0660AndNothingElseAtItsPathIsTouched) {
  const std::string other = path + ".second";
  server::ServerOptions o;
  o.socket_path = other;
  o.handle_signals = false;
  const auto mode_of = [](const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : ~0u;
  };
  for (mode_t mask : {mode_t{0}, mode_t{077}}) {
    const mode_t was = ::umask(mask);
    auto s = server::Server::create(*host, o);
    ::umask(was);
    ASSERT_TRUE(s.has_value()) << s.error();
    EXPECT_EQ(mode_of(other), 0660u) << "with umask " << std::oct << mask;
  }
  ASSERT_FALSE(std::filesystem::exists(other)) << "the server did not remove its socket at exit";

  // A file of the user's at the path: refused, saying so, and kept.
  { std::ofstream(other) << "precious"; }
  auto refused = server::Server::create(*host, o);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().find("is not a socket"), std::string::npos) << refused.error();
  std::string kept;
  std::getline(std::ifstream(other), kept);
  EXPECT_EQ(kept, "precious");
  std::filesystem::remove(other);

  // A daemon whose socket was replaced by someone else's file leaves that file at exit.
  {
    auto s = server::Server::create(*host, o);
    ASSERT_TRUE(s.has_value()) << s.error();
    std::filesystem::remove(other);
    std::ofstream(other) << "someone else's";
  }
  EXPECT_TRUE(std::filesystem::exists(other));
  std::filesystem::remove(other);
}

TEST_F(ServerTest, QueryFollowsTheKernelRulesAndIdsStayStableAcrossFlips) {
  Conn c(path);
  c.hello();
  EXPECT_EQ(proto::error_code(c.call(MsgType::QueryPlane, 1, plane_request(proto::kPlanePrimary))), Status::Access);
  EXPECT_EQ(proto::error_code(c.call(MsgType::Open, 9)), Status::NoEntry);
  ASSERT_TRUE(Conn::ok(c.call(MsgType::Open, 1)));
  EXPECT_TRUE(Conn::ok(c.call(MsgType::QueryPlane, 1, plane_request(proto::kPlanePrimary, proto::kFlagProbe | proto::kFlagDmabuf))));
  EXPECT_EQ(proto::error_code(c.call(MsgType::QueryPlane, 1, plane_request(proto::kPlanePrimary, proto::kFlagRegion))),
            Status::NotSupported);
  const proto::GfxPlaneInfo p = primary(c, 1);
  EXPECT_EQ(p.drm_format, hw::drm::kXRGB8888);
  EXPECT_EQ(p.drm_format_mod, hw::drm::kModXTiled);
  EXPECT_EQ(p.width, 1024u);
  EXPECT_EQ(p.height, 768u);
  std::set<uint32_t> ids;
  for (int i = 0; i < 60; ++i) {
    ids.insert(primary(c, 1).dmabuf_id);
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
  }
  EXPECT_EQ(ids.size(), 2u) << "a double-buffered desktop cycles between two ids";
  proto::GfxPlaneInfo cur{};
  ASSERT_TRUE(c.call(MsgType::QueryPlane, 1, plane_request(proto::kPlaneCursor)).read(cur));
  EXPECT_EQ(cur.drm_format, hw::drm::kARGB8888);
  EXPECT_EQ(cur.x_hot, 1u);
  EXPECT_EQ(cur.y_hot, 1u);
}

TEST_F(ServerTest, BufferComesAsReadOnlyDescriptorsOfThePlane) {
  Conn c(path);
  c.hello();
  ASSERT_TRUE(Conn::ok(c.call(MsgType::Open, kVideo)));
  const proto::GfxPlaneInfo p = primary(c, kVideo);
  Packet r = c.call(MsgType::GetBuffer, kVideo, proto::BufferRequest{p.dmabuf_id});
  ASSERT_TRUE(Conn::ok(r)) << proto::error_text(r);
  proto::BufferReply b;
  ASSERT_TRUE(r.read(b));
  EXPECT_EQ(b.width, 1024u);
  EXPECT_EQ(b.stride, 4096u);
  ASSERT_GE(r.fds.size(), 1u);
  ASSERT_GE(b.extent_count, 1u);
  proto::Extent e;
  ASSERT_TRUE(r.read(e, sizeof b));
  EXPECT_EQ(::mmap(nullptr, e.length, PROT_READ | PROT_WRITE, MAP_SHARED, r.fds[0].get(), static_cast<off_t>(e.offset)),
            MAP_FAILED);
  void* m = ::mmap(nullptr, e.length, PROT_READ, MAP_SHARED, r.fds[0].get(), static_cast<off_t>(e.offset));
  ASSERT_NE(m, MAP_FAILED);
  uint32_t first;
  std::memcpy(&first, m, 4);
  EXPECT_NE(first & 0xFFFFFF, 0u) << "the video workload's background is not black";
  ::munmap(m, e.length);
  EXPECT_TRUE(Conn::ok(c.call(MsgType::Release, kVideo, proto::ReleaseRequest{p.dmabuf_id})));
  EXPECT_EQ(proto::error_code(c.call(MsgType::Release, kVideo, proto::ReleaseRequest{p.dmabuf_id})), Status::NoEntry);
}

TEST_F(ServerTest, EventsArriveAtVblankAndAGarbageClientDisturbsNobody) {
  Conn c(path);
  c.hello();
  const UniqueFd efd = c.subscribe(1);

  Conn bad(path);
  const char junk[] = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(bad.fd.get(), junk, sizeof junk, 0), static_cast<ssize_t>(sizeof junk));
  EXPECT_EQ(proto::error_code(bad.receive()), Status::Protocol);

  uint64_t primary_events = 0;
  for (int i = 0; i < 20; ++i) {
    const uint64_t v = next_event(efd);
    ASSERT_NE(v, 0u) << "the desktop flips every frame: events keep coming";
    primary_events += events::decode(v).primary;
  }
  EXPECT_GE(primary_events, 10u) << "most wake-ups bring a new frame (a slow guest's may bring only a cursor move)";
  EXPECT_EQ(srv->stats().malformed, 1u) << "the garbage client, counted";
}

TEST_F(ServerTest, ManyConnectionsLeaveNoDescriptorOrMemoryBehind) {
  {  // both guests running, every buffer they draw into touched: their RAM is resident already
    Conn warm(path);
    warm.hello();
    for (uint32_t v : {1u, 2u}) {
      ASSERT_TRUE(Conn::ok(warm.call(MsgType::Open, v)));
      primary(warm, v);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const size_t before = open_fds();
  const long rss_before = rss_kib();
  for (int i = 0; i < 10000; ++i) {
    Conn c(path);
    c.hello();
    if (i % 100 == 0) {
      ASSERT_TRUE(Conn::ok(c.call(MsgType::Open, 1)));
    }
  }
  Conn last(path);
  last.hello();  // the server has handled every earlier disconnect by now
  EXPECT_LE(open_fds(), before + 2) << "only the last connection's two ends";
#if !defined(__SANITIZE_ADDRESS__)  // ASan keeps freed memory in quarantine: RSS says nothing there
  EXPECT_LT(rss_kib() - rss_before, 8 * 1024) << "resident memory stays flat (guests included)";
#else
  (void)rss_before;
#endif
  EXPECT_GE(srv->stats().connections, 10001u);
}

// A client that asks for a buffer and dies before reading the reply: the server notices when
// the reply cannot be sent, returns the reference it had counted, and the others carry on.
TEST_F(ServerTest, AClientDyingMidTransferLeavesNoReferenceAndStopsNobody) {
  Conn watcher(path);
  watcher.hello();
  const UniqueFd efd = watcher.subscribe(1);

  uint32_t id = 0;
  for (int i = 0; i < 20; ++i) {
    Conn dying(path);
    dying.hello();
    ASSERT_TRUE(Conn::ok(dying.call(MsgType::Open, 1)));
    id = primary(dying, 1).dmabuf_id;
    Packet get = proto::make_packet(static_cast<uint16_t>(MsgType::GetBuffer), ++dying.seq, 1);
    get.append(proto::BufferRequest{id});
    ASSERT_TRUE(proto::send_packet(dying.fd.get(), get).has_value());
    // gone before the reply: the connection closes with the request (maybe) unanswered
  }
  Conn last(path);
  last.hello();
  ASSERT_TRUE(Conn::ok(last.call(MsgType::List)));  // the server has dealt with every earlier client
  {
    const Locked lk(host->find(1)->lock());
    EXPECT_EQ(host->find(1)->port().exporter().exports_of(id), 0u) << "no reference outlives its client";
  }
  for (int i = 0; i < 5; ++i) ASSERT_NE(next_event(efd), 0u) << "the watcher's events keep coming";
}

// tearing = hold with a consumer that takes both of the desktop's buffers and never gives them
// back: every flip-done waits for the bound, so the guest slows down but keeps going.
class HoldServerTest : public ServerTest {
 protected:
  DaemonConfig config() const override {
    DaemonConfig c;
    c.vgpus[0].tearing = TearingMode::Hold;
    c.vgpus[0].access.trusted_uids = {::getuid()};  // tearing control is the zero-copy path's
    return c;
  }
  struct Sample {
    uint64_t flips, vblanks;
    exporter::TearingCounters tearing;
  };
  Sample sample() {
    server::HostedVgpu* hv = host->find(1);
    const Locked lk(hv->lock());
    const auto& st = hv->vgpu().display().stats();
    return {st.flips[0][static_cast<size_t>(hw::Plane::Primary)], st.vblanks[0], hv->port().counters().tearing};
  }
};

TEST_F(HoldServerTest, AConsumerThatNeverReleasesSlowsTheGuestButStopsNobody) {
  Conn greedy(path);
  greedy.hello();
  ASSERT_TRUE(Conn::ok(greedy.call(MsgType::Open, 1)));
  std::set<uint32_t> taken;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (taken.size() < 2 && std::chrono::steady_clock::now() < until) {
    const uint32_t id = primary(greedy, 1).dmabuf_id;
    if (taken.insert(id).second) {
      ASSERT_TRUE(Conn::ok(greedy.call(MsgType::GetBuffer, 1, proto::BufferRequest{id})));
    }
  }
  ASSERT_EQ(taken.size(), 2u) << "both buffers of the double-buffered desktop, never released";

  Conn watcher(path);
  watcher.hello();
  const UniqueFd efd = watcher.subscribe(1);

  const Sample before = sample();
  uint64_t primary_events = 0;
  for (int i = 0; i < 30; ++i) {
    const uint64_t v = next_event(efd);
    ASSERT_NE(v, 0u) << "the other consumer keeps getting events";
    primary_events += events::decode(v).primary;
  }
  const Sample after = sample();
  const uint64_t frames = after.flips - before.flips, vblanks = after.vblanks - before.vblanks;
  const uint64_t timeouts = after.tearing.hold_timeouts - before.tearing.hold_timeouts;
  std::cout << frames << " frames in " << vblanks << " vblanks, " << timeouts << " hold timeouts, longest hold "
            << after.tearing.hold_ns_max / 1000 << " us\n";
  EXPECT_GE(primary_events, 5u);
  EXPECT_GE(frames, 5u) << "the guest is not stalled";
  EXPECT_GE(timeouts + 1, frames) << "every flip waited for the bound";
  // A flip latches at a vblank and completes kHoldVblanks later; the next one latches a vblank
  // after that at the earliest: at most one frame per kHoldVblanks + 1 vblanks.
  EXPECT_LE(frames * (exporter::kHoldVblanks + 1), vblanks + exporter::kHoldVblanks + 1) << "held to the bound";
  EXPECT_GE(frames * (exporter::kHoldVblanks + 1) * 2, vblanks) << "and not much slower than the bound allows";
}

// tearing = copy, through the protocol: the primary comes from a shadow memfd, in one extent.
class CopyServerTest : public ServerTest {
 protected:
  DaemonConfig config() const override {
    DaemonConfig c;
    c.vgpus[0].tearing = TearingMode::Copy;
    c.vgpus[0].access.trusted_uids = {::getuid()};  // tearing control is the zero-copy path's
    return c;
  }
};

TEST_F(CopyServerTest, PrimaryBuffersAreShadowFrames) {
  Conn c(path);
  c.hello();
  ASSERT_TRUE(Conn::ok(c.call(MsgType::Open, 1)));
  std::set<uint32_t> ids;
  for (int i = 0; i < 20; ++i) {
    const proto::GfxPlaneInfo p = primary(c, 1);
    EXPECT_TRUE(exporter::ShadowFrames::owns(p.dmabuf_id)) << p.dmabuf_id;
    ids.insert(p.dmabuf_id);
    Packet r = c.call(MsgType::GetBuffer, 1, proto::BufferRequest{p.dmabuf_id});
    ASSERT_TRUE(Conn::ok(r)) << proto::error_text(r);
    proto::BufferReply b;
    proto::Extent e;
    ASSERT_TRUE(r.read(b) && r.read(e, sizeof b));
    EXPECT_EQ(b.extent_count, 1u);
    EXPECT_EQ(e.offset, 0u);
    EXPECT_EQ(b.size, p.size);
    void* m = ::mmap(nullptr, e.length, PROT_READ, MAP_SHARED, r.fds[0].get(), 0);
    ASSERT_NE(m, MAP_FAILED);
    ::munmap(m, e.length);
    EXPECT_TRUE(Conn::ok(c.call(MsgType::Release, 1, proto::ReleaseRequest{p.dmabuf_id})));
    std::this_thread::sleep_for(std::chrono::milliseconds(8));
  }
  EXPECT_EQ(ids.size(), 2u) << "two shadows, alternating";
  server::HostedVgpu* hv = host->find(1);
  const Locked lk(hv->lock());
  EXPECT_GT(hv->port().counters().tearing.copies, 0u);
  EXPECT_EQ(hv->port().exporter().counters().exports, 0u) << "guest RAM never handed out";
}

}  // namespace
}  // namespace vgd
