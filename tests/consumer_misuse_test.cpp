// Consumers that misuse what the daemon hands out or takes (misuse_support.h): descriptors that
// are no eventfd or go with requests that take none, an eventfd never read, buffers never
// released, thousands of open/close and connect/disconnect cycles. Each is refused or contained
// as docs/protocol.md §3.7, §4 and §6 say, counted, leaks nothing, and the viewer on the same
// vGPU sees its events, plane and buffer throughout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "events/event_value.h"
#include "misuse_support.h"
#include "server/status.h"

namespace vgd::test {
namespace {

using proto::MsgType;
using proto::Packet;
using proto::Status;

constexpr uint64_t kFullCounter = 0xfffffffffffffffe;  // the most an eventfd counter holds

Packet with_fd(MsgType type, int fd, size_t copies = 1) {
  Packet p = proto::make_packet(static_cast<uint16_t>(type), 0, kMisuseVgpu);
  for (size_t i = 0; i < copies; ++i) p.fds.emplace_back(::dup(fd));
  return p;
}

// §3.7: only a non-blocking eventfd is taken; §3: descriptors with any other request are
// refused (EINVAL, the connection stays) and closed, whatever they are.
TEST_F(MisuseTest, WrongEventfdsAndStrayDescriptorsAreRefusedAndClosed) {
  auto bad = consumer();
  const size_t fds_before = open_fds();
  const uint64_t errors_before = stats().errors, consumers_before = port().event_consumers;
  uint64_t refusals = 0;
  {
    int pipe_ends[2];
    ASSERT_EQ(::pipe2(pipe_ends, O_CLOEXEC | O_NONBLOCK), 0);
    const UniqueFd pipe_r(pipe_ends[0]), pipe_w(pipe_ends[1]);
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
    const UniqueFd sock_a(pair[0]), sock_b(pair[1]);
    const UniqueFd blocking(::eventfd(0, EFD_CLOEXEC)), memfd(::memfd_create("misuse", MFD_CLOEXEC));
    ASSERT_TRUE(blocking && memfd);
    ASSERT_EQ(::fcntl(memfd.get(), F_SETFL, O_NONBLOCK), 0);
    const std::pair<const char*, int> wrong[] = {{"a blocking eventfd", blocking.get()},
                                                 {"a pipe", pipe_r.get()},
                                                 {"a memfd", memfd.get()},
                                                 {"a socket", sock_a.get()}};
    for (const auto& [what, fd] : wrong) {
      const Packet r = bad->call(with_fd(MsgType::SetEventfd, fd));
      EXPECT_EQ(proto::error_code(r), Status::Invalid) << what;
      const std::string why = proto::error_text(r);
      EXPECT_NE(why.find(fd == blocking.get() ? "non-blocking" : "not an eventfd"), std::string::npos) << what << ": " << why;
      ++refusals;
    }
    // A real one, with a request that takes none: QueryPlane, List, Open, Close, Release.
    const UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    for (MsgType t : {MsgType::QueryPlane, MsgType::List, MsgType::Open, MsgType::Close, MsgType::Release}) {
      Packet p = with_fd(t, efd.get(), t == MsgType::List ? proto::kMaxFds : 1);
      if (t == MsgType::QueryPlane) p.append(plane_request(proto::kPlanePrimary));
      const Packet r = bad->call(std::move(p));
      EXPECT_EQ(proto::error_code(r), Status::Invalid) << "request " << static_cast<int>(t);
      EXPECT_NE(proto::error_text(r).find("takes no descriptors"), std::string::npos) << proto::error_text(r);
      ++refusals;
    }
    viewer->look("after the refusals");
  }
  // Nothing else changed: the vGPU is still open (the Close was refused), still polled.
  EXPECT_TRUE(Conn::ok(bad->call(MsgType::QueryPlane, kVgpu, plane_request(proto::kPlanePrimary))));
  EXPECT_TRUE(Conn::ok(bad->call(MsgType::PollEvents, kVgpu)));
  EXPECT_EQ(stats().errors - errors_before, refusals) << "every refusal counted";
  EXPECT_EQ(port().event_consumers, consumers_before);
  EXPECT_EQ(open_fds(), fds_before) << "every descriptor sent was closed";
}

// §3.7: a full counter refuses the daemon's write; the daemon goes on (it never blocks on an
// eventfd) and keeps what was refused for PollEvents. Filled while masked, so no vblank's write
// races with the test's.
void fill_masked(Conn& c, const UniqueFd& efd, bool then_blocking) {
  ASSERT_TRUE(Conn::ok(c.call(MsgType::Mask, kMisuseVgpu)));
  uint64_t v;
  (void)!::read(efd.get(), &v, sizeof v);
  ASSERT_EQ(::write(efd.get(), &kFullCounter, sizeof kFullCounter), static_cast<ssize_t>(sizeof v));
  // The consumer shares the eventfd's file description with the daemon: it can make it blocking.
  if (then_blocking) {
    ASSERT_EQ(::fcntl(efd.get(), F_SETFL, 0), 0);
  }
  ASSERT_TRUE(Conn::ok(c.call(MsgType::Unmask, kMisuseVgpu)));
}

TEST_F(MisuseTest, AnEventfdNeverReadKeepsWhatItRefusedAndStopsNobody) {
  for (const bool blocking : {false, true}) {
    SCOPED_TRACE(blocking ? "made blocking after SetEventfd" : "non-blocking");
    Conn bad(path);
    bad.hello();
    const UniqueFd efd = bad.subscribe(kVgpu);
    fill_masked(bad, efd, blocking);
    const events::HubStats before = port().events;
    for (int i = 0; i < 10; ++i) viewer->look("while the other consumer's counter is full");
    const events::HubStats after = port().events;
    EXPECT_GT(blocking ? after.failed - before.failed : after.overflowed - before.overflowed, 5u)
        << "its writes refused (or skipped), counted";

    proto::EventsReply ev;
    ASSERT_TRUE(bad.call(MsgType::PollEvents, kVgpu).read(ev));
    EXPECT_GE(events::decode(ev.value).primary, 5u) << "what the eventfd refused is kept for PollEvents";
    ASSERT_EQ(::fcntl(efd.get(), F_SETFL, O_NONBLOCK), 0);
    uint64_t v = 0;
    ASSERT_EQ(::read(efd.get(), &v, sizeof v), static_cast<ssize_t>(sizeof v));
    EXPECT_EQ(v, kFullCounter) << "nothing was added to the full counter";
    EXPECT_NE(next_event(efd), 0u) << "read, the eventfd gets events again";
  }
  viewer->look("after");
}

// §4: at most ConsumerPort::kMaxReferences references per connection and vGPU; past them
// GetBuffer is EMFILE, counted. Under hold the guest's flips wait for the held buffers at most
// 2 vblanks each, so the guest slows down but keeps flipping, and the viewer sees it.
TEST_F(MisuseTest, AConsumerHoldingEveryBufferIsCappedAndTheGuestKeepsFlipping) {
  constexpr uint32_t kMax = server::ConsumerPort::kMaxReferences;
  Conn greedy(path);
  greedy.hello();
  const UniqueFd efd = greedy.subscribe(kVgpu);
  const auto flips = [&] {
    server::HostedVgpu& hv = *daemon.host->find(kVgpu);
    const Locked lk(hv.lock());
    return hv.vgpu().display().stats().flips[0][static_cast<size_t>(hw::Plane::Primary)];
  };
  const uint64_t flips_before = flips(), timeouts_before = port().tearing.hold_timeouts;
  std::set<uint32_t> ids;
  uint32_t taken = 0, refused = 0;
  for (uint32_t i = 0; i < 3 * kMax; ++i) {
    if (i % 8 == 0) (void)next_event(efd);  // across flips
    for (uint32_t plane : {proto::kPlanePrimary, proto::kPlaneCursor}) {
      const uint32_t id = shown(greedy, kVgpu, plane).dmabuf_id;
      const Packet r = greedy.call(MsgType::GetBuffer, kVgpu, proto::BufferRequest{id});
      if (Conn::ok(r)) {
        ++taken;
        ids.insert(id);
        continue;
      }
      ++refused;
      ASSERT_EQ(proto::error_code(r), Status::TooMany) << proto::error_text(r);
      EXPECT_NE(proto::error_text(r).find("Release"), std::string::npos) << proto::error_text(r);
    }
    if (i % 48 == 0) viewer->look("while a consumer holds every buffer it got");
  }
  EXPECT_EQ(taken, kMax);
  EXPECT_EQ(refused, 6 * kMax - kMax);
  const server::PortCounters held = port();
  EXPECT_EQ(held.exporter.over_limit, refused) << "every refusal counted";
  EXPECT_LE(held.exporter.live, exporter::ExporterOptions{}.idle_capacity + kMax) << "the buffers known stay bounded";
  EXPECT_GE(flips() - flips_before, 5u) << "the guest kept flipping";
  EXPECT_GT(port().tearing.hold_timeouts - timeouts_before, 0u) << "its flips waited for the held buffers, to the bound";

  // One Release makes room for one GetBuffer; Close returns every reference.
  const uint32_t some = *ids.begin();
  ASSERT_TRUE(Conn::ok(greedy.call(MsgType::Release, kVgpu, proto::ReleaseRequest{some})));
  const uint32_t id = shown(greedy, kVgpu, proto::kPlanePrimary).dmabuf_id;
  EXPECT_TRUE(Conn::ok(greedy.call(MsgType::GetBuffer, kVgpu, proto::BufferRequest{id})));
  EXPECT_EQ(proto::error_code(greedy.call(MsgType::GetBuffer, kVgpu, proto::BufferRequest{id})), Status::TooMany);
  ASSERT_TRUE(Conn::ok(greedy.call(MsgType::Close, kVgpu)));
  for (uint32_t x : ids) EXPECT_EQ(references_on(x), 0u) << "id " << x;
  viewer->look("after the greedy consumer closed");
}

// §3.3: Close returns everything Open and the requests after it took; the port's consumers and
// the daemon's descriptors come back to where they were, and the counters add up.
TEST_F(MisuseTest, TenThousandOpenCloseCyclesLeaveNothingBehind) {
  Conn c(path);
  c.hello();
  const size_t fds_before = open_fds();
  const uint64_t consumers_before = port().event_consumers;
  const server::ServerStats before = stats();
  uint64_t requests = 0;
  std::set<uint32_t> ids;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(Conn::ok(c.call(MsgType::Open, kVgpu)));
    ++requests;
    if (i % 100 == 0) {  // with an eventfd and a reference Close must return
      const UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
      ASSERT_TRUE(Conn::ok(c.call(with_fd(MsgType::SetEventfd, efd.get()))));
      const uint32_t id = shown(c, kVgpu, proto::kPlanePrimary).dmabuf_id;
      ASSERT_TRUE(Conn::ok(c.call(MsgType::GetBuffer, kVgpu, proto::BufferRequest{id})));
      ids.insert(id);
      requests += 3;
    }
    ASSERT_TRUE(Conn::ok(c.call(MsgType::Close, kVgpu)));
    ++requests;
    if (i % 2500 == 0) viewer->look("between open/close cycles");
  }
  const server::ServerStats after = stats();
  EXPECT_GE(after.requests - before.requests, requests) << "every one counted (the viewer's too)";
  EXPECT_EQ(after.errors, before.errors);
  EXPECT_EQ(port().event_consumers, consumers_before) << "no consumer left in the port";
  for (uint32_t x : ids) EXPECT_EQ(references_on(x), 0u) << "id " << x;
  EXPECT_EQ(open_fds(), fds_before);
  viewer->look("after 10,000 open/close cycles");
}

// The same through connections, each gone with whatever it opened (every tenth an eventfd).
TEST_F(MisuseTest, TenThousandConnectHelloDisconnectCyclesLeaveNothingBehind) {
  settle(1);  // the viewer
  const size_t fds_before = open_fds();
  const uint64_t consumers_before = port().event_consumers;
  const server::ServerStats before = stats();
  for (int i = 0; i < 10000; ++i) {
    Conn c(path);
    c.hello();
    if (i % 10 == 0) (void)c.subscribe(kVgpu);  // gone with the connection
    if (i % 2500 == 0) viewer->look("between connections");
  }
  settle(1);
  const server::ServerStats after = stats();
  EXPECT_EQ(after.connections - before.connections, 10000u);
  EXPECT_EQ(after.disconnects - before.disconnects, 10000u);
  EXPECT_EQ(after.errors, before.errors);
  EXPECT_EQ(server::StatusCollector().collect(*daemon.host, *daemon.srv).clients, 1u) << "the viewer only";
  EXPECT_EQ(port().event_consumers, consumers_before);
  EXPECT_EQ(open_fds(), fds_before);
  viewer->look("after 10,000 connections");
}

}  // namespace
}  // namespace vgd::test
