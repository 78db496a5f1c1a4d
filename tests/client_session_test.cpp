// libvgd-client's vGPU session: mapped buffers, the id cache, release, events, close. Against
// a fake daemon (client_fake_daemon.h), no vgpud needed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include "client/client.h"
#include "client_fake_daemon.h"

namespace vgd::client {
namespace {

using namespace std::chrono_literals;
using proto::Extent;
using proto::MsgType;
using proto::Status;
using test::FakeDaemon;
using test::kPage;
using test::Opened;
using test::word_at;

TEST(MappedBuffer, MapsExtentsAtConsecutiveAddressesInTheirOrder) {
  proto::BufferReply r{9, hw::drm::kXRGB8888, 0, 64, 40, 256, 3, 4 * kPage - 100, 0, 0};
  // Out of order, one extent two pages long: the plane is pages 5, 0, 1, 12 of the memfd.
  const std::vector<Extent> ext{{5 * kPage, kPage}, {0, 2 * kPage}, {12 * kPage, kPage}};
  auto b = MappedBuffer::map(r, ext, test::numbered_memfd());
  ASSERT_TRUE(b) << describe(b.error());
  const MappedBuffer& m = **b;
  EXPECT_EQ(m.size(), 4 * kPage - 100);
  ASSERT_EQ(m.mapped_size(), 4 * kPage);
  const uint64_t pages[] = {5, 0, 1, 12};
  for (size_t i = 0; i < 4; ++i)
    for (size_t w = 0; w < kPage; w += 512) EXPECT_EQ(word_at(m, i * kPage + w), pages[i] * kPage + w) << i;
  EXPECT_EQ(m.id(), 9u);
  EXPECT_EQ(m.fourcc(), hw::drm::kXRGB8888);
  EXPECT_EQ(m.width(), 64u);
  EXPECT_EQ(m.height(), 40u);
  EXPECT_EQ(m.stride(), 256u);
  EXPECT_EQ(m.dmabuf_fd(), -1);
}

TEST(MappedBuffer, RefusesExtentsThatCannotBeMappedOrDoNotCoverThePlane) {
  proto::BufferReply r{1, hw::drm::kXRGB8888, 0, 32, 32, 128, 1, kPage, 0, 0};
  const auto fails = [&](std::vector<Extent> ext, const char* what) {
    auto b = MappedBuffer::map(r, ext, test::numbered_memfd());
    ASSERT_FALSE(b) << what;
    EXPECT_EQ(b.error().code, Status::Protocol) << what;
  };
  fails({}, "no extents");
  fails({{100, kPage}}, "unaligned offset");
  fails({{0, kPage / 2}}, "partial page");
  r.size = 2 * kPage;
  fails({{0, kPage}}, "shorter than the plane");
  EXPECT_FALSE(MappedBuffer::map(r, std::vector<Extent>{{0, 2 * kPage}}, UniqueFd())) << "no descriptor";
}

// Mapped past its end, or in a file the daemon could shrink later, a page would fault (SIGBUS)
// when the consumer reads it: refused instead (found by fuzz/client_fuzz.cpp).
TEST(MappedBuffer, RefusesExtentsPastTheFilesEndAndFilesThatMayShrink) {
  const proto::BufferReply r{1, hw::drm::kXRGB8888, 0, 32, 32, 128, 1, kPage, 0, 0};
  const uint64_t end = test::kRamPages * kPage;
  for (const Extent& e : {Extent{end - kPage, 2 * kPage}, Extent{end, kPage}, Extent{0, end + kPage}}) {
    auto b = MappedBuffer::map(r, std::vector<Extent>{e}, test::numbered_memfd());
    ASSERT_FALSE(b) << std::hex << e.offset << "+" << e.length;
    EXPECT_EQ(b.error().code, Status::Protocol);
    EXPECT_NE(b.error().message.find("past the end"), std::string::npos) << b.error().message;
  }
  auto unsealed = MappedBuffer::map(r, std::vector<Extent>{{0, kPage}}, test::numbered_memfd(false));
  ASSERT_FALSE(unsealed);
  EXPECT_NE(unsealed.error().message.find("not sealed"), std::string::npos) << unsealed.error().message;
  UniqueFd pipe_end;
  {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    pipe_end.reset(p[0]);
    ::close(p[1]);
  }
  auto not_a_file = MappedBuffer::map(r, std::vector<Extent>{{0, kPage}}, std::move(pipe_end));
  ASSERT_FALSE(not_a_file);
  EXPECT_EQ(not_a_file.error().code, Status::Protocol);
  EXPECT_TRUE(MappedBuffer::map(r, std::vector<Extent>{{end - kPage, kPage}}, test::numbered_memfd())) << "the last page";
}

// A daemon's buffer the session cannot map is refused, and its reference given back.
TEST(Session, ABufferPastItsFilesEndIsRefusedAndReleased) {
  Opened o;
  o.d.set_extents(4, {{(test::kRamPages - 1) * kPage, 2 * kPage}});
  auto b = o.vgpu->buffer(4);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Status::Protocol);
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{4});
  EXPECT_TRUE(o.vgpu->buffer(5)) << "the session goes on";
}

TEST(Session, BufferMapsWhatTheDaemonSentAndKeepsTheDmabuf) {
  Opened o;
  o.d.set_extents(4, {{7 * kPage, kPage}, {2 * kPage, kPage}});
  auto b = o.vgpu->buffer(4);
  ASSERT_TRUE(b) << describe(b.error());
  EXPECT_EQ(word_at(**b, 0), 7 * kPage);
  EXPECT_EQ(word_at(**b, kPage), 2 * kPage);
  EXPECT_EQ((*b)->dmabuf_fd(), -1);

  o.d.set_dmabuf(2);
  auto with_dmabuf = o.vgpu->buffer(6);
  ASSERT_TRUE(with_dmabuf) << describe(with_dmabuf.error());
  EXPECT_GE((*with_dmabuf)->dmabuf_fd(), 0);
  o.d.set_dmabuf(1);  // the flag without its descriptor
  auto missing = o.vgpu->buffer(7);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Status::Protocol);
  EXPECT_EQ(o.d.gets(), (std::vector<uint32_t>{4, 6, 7}));
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{7}) << "a reference it cannot use goes back at once";
}

TEST(Session, CacheKeepsTheFiveMostRecentAndReleasesEvictedIds) {
  Opened o;  // a vGPU without tearing control: the cache holds the references
  EXPECT_EQ(o.vgpu->tearing(), proto::Tearing::None);
  EXPECT_FALSE(o.vgpu->releases_on_drop());
  std::shared_ptr<const MappedBuffer> first;
  for (uint32_t id = 1; id <= 7; ++id) {
    auto b = o.vgpu->buffer(id);
    ASSERT_TRUE(b) << describe(b.error());
    if (id == 1) first = *b;
  }
  EXPECT_EQ(o.vgpu->cached_ids(), (std::vector<uint32_t>{7, 6, 5, 4, 3}));
  EXPECT_EQ(o.d.releases(), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(word_at(*first, 0), 1 * kPage) << "an evicted buffer stays mapped while held";

  // A hit fetches nothing and becomes the most recent, so the next miss evicts 4, not 3.
  ASSERT_TRUE(o.vgpu->buffer(3));
  EXPECT_EQ(o.d.gets().size(), 7u);
  ASSERT_TRUE(o.vgpu->buffer(8));
  EXPECT_EQ(o.vgpu->cached_ids(), (std::vector<uint32_t>{8, 3, 7, 6, 5}));
  EXPECT_EQ(o.d.releases(), (std::vector<uint32_t>{1, 2, 4}));
  EXPECT_EQ(o.vgpu->counters().cache_hits, 1u);
  EXPECT_EQ(o.vgpu->counters().cache_misses, 8u);
  first.reset();
  EXPECT_EQ(o.d.releases(), (std::vector<uint32_t>{1, 2, 4})) << "dropping a handle releases nothing";
  EXPECT_EQ(o.vgpu->cached_ids(), (std::vector<uint32_t>{8, 3, 7, 6, 5})) << "the cache keeps them";
}

TEST(Session, QueryThenBufferHitsTheCacheAndRefetchesAStaleId) {
  Opened o;
  auto q = o.vgpu->query(proto::kPlanePrimary);
  ASSERT_TRUE(q) << describe(q.error());
  ASSERT_FALSE(no_plane(*q));
  ASSERT_TRUE(o.vgpu->buffer(*q));
  ASSERT_TRUE(o.vgpu->buffer(*q));
  EXPECT_EQ(o.d.gets(), std::vector<uint32_t>{3});
  // The same id now describes another surface (a reset vGPU reused it): fetched again.
  q->width = 16;
  ASSERT_TRUE(o.vgpu->buffer(*q));
  EXPECT_EQ(o.d.gets(), (std::vector<uint32_t>{3, 3}));
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{3});

  auto cursor = o.vgpu->query(proto::kPlaneCursor);
  ASSERT_TRUE(cursor);
  EXPECT_TRUE(no_plane(*cursor));
  EXPECT_EQ(o.vgpu->buffer(*cursor).error().code, Status::NoEntry);
}

TEST(Session, ReleaseDropsTheIdAndReturnsTheReference) {
  Opened o;
  ASSERT_TRUE(o.vgpu->buffer(2));
  ASSERT_TRUE(o.vgpu->release(2));
  EXPECT_TRUE(o.vgpu->cached_ids().empty());
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{2});
  ASSERT_TRUE(o.vgpu->buffer(2));
  EXPECT_EQ(o.d.gets().size(), 2u) << "released ids are fetched again";
}

TEST(Session, CloseReturnsEverythingInOneRequest) {
  Opened o;
  ASSERT_TRUE(o.vgpu->buffer(1));
  auto held = o.vgpu->buffer(2);
  ASSERT_TRUE(held);
  ASSERT_TRUE(o.vgpu->close());
  EXPECT_FALSE(o.vgpu->is_open());
  EXPECT_EQ(o.d.count(MsgType::Close), 1u);
  EXPECT_TRUE(o.d.releases().empty()) << "Close returns the references: no Release needed";
  EXPECT_EQ(word_at(**held, 0), 2 * kPage);
  EXPECT_EQ(o.vgpu->query(proto::kPlanePrimary).error().code, Status::Access);
  EXPECT_TRUE(o.vgpu->close()) << "closing twice is fine";
  EXPECT_EQ(o.d.count(MsgType::Close), 1u);
  EXPECT_TRUE(o.conn->open(1)) << "and the vGPU can be opened again";
}

TEST(Session, DestroyingASessionClosesIt) {
  Opened o;
  o.vgpu.reset();
  EXPECT_EQ(o.d.count(MsgType::Close), 1u);
}

TEST(Session, OneSessionPerVgpuAndConnection) {
  Opened o;
  auto again = o.conn->open(1);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Status::Busy);
  EXPECT_TRUE(o.conn->open(2));
}

TEST(Session, WaitEventsDecodesTheCountsAndTimesOut) {
  Opened o;
  EXPECT_EQ(o.vgpu->wait_events(0ms).error().code, Status::Invalid) << "not enabled yet";
  ASSERT_TRUE(o.vgpu->enable_events());
  ASSERT_GE(o.vgpu->event_fd(), 0);
  const int daemon_fd = o.d.eventfd();
  ASSERT_GE(daemon_fd, 0);
  EXPECT_TRUE(::fcntl(daemon_fd, F_GETFL) & O_NONBLOCK) << "the daemon refuses blocking eventfds";

  // What a daemon does at two vblanks: add values; the reader sees their sum, split.
  ASSERT_EQ(::eventfd_write(daemon_fd, events::encode({1, 0, 1, 0})), 0);
  ASSERT_EQ(::eventfd_write(daemon_fd, events::encode({1, 1, 0, 1})), 0);
  auto ev = o.vgpu->wait_events(1s);
  ASSERT_TRUE(ev) << describe(ev.error());
  EXPECT_EQ(*ev, (EventCounts{2, 1, 1, 1}));

  const auto t0 = std::chrono::steady_clock::now();
  ev = o.vgpu->wait_events(50ms);
  ASSERT_TRUE(ev);
  EXPECT_FALSE(ev->any());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);

  ASSERT_TRUE(o.vgpu->disable_events());
  EXPECT_EQ(o.vgpu->event_fd(), -1);
  EXPECT_EQ(o.d.eventfd(), -1);
}

TEST(Session, WaitEventsNoticesADaemonThatWentAway) {
  Opened o;
  ASSERT_TRUE(o.vgpu->enable_events());
  ASSERT_GE(o.vgpu->connection_fd(), 0);
  o.d.hang_up();
  const auto t0 = std::chrono::steady_clock::now();
  auto ev = o.vgpu->wait_events(5s);
  ASSERT_FALSE(ev);
  EXPECT_EQ(ev.error().code, Status::Protocol);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "noticed at once, not at the timeout";
  EXPECT_EQ(o.vgpu->connection_fd(), -1);
  EXPECT_FALSE(o.vgpu->query(proto::kPlanePrimary));
}

TEST(Session, PollMaskAndUnmaskAreRequests) {
  Opened o;
  auto ev = o.vgpu->poll_events();
  ASSERT_TRUE(ev);
  EXPECT_EQ(*ev, (EventCounts{1, 0, 2, 0}));
  ASSERT_TRUE(o.vgpu->mask());
  ASSERT_TRUE(o.vgpu->unmask());
  EXPECT_EQ(o.d.count(MsgType::Mask), 1u);
  EXPECT_EQ(o.d.count(MsgType::Unmask), 1u);
}

TEST(Session, AnUnusableBufferIsReleasedAtOnce) {
  Opened o;
  o.d.set_extents(5, {{100, kPage}});  // not page-aligned: cannot be mapped
  auto b = o.vgpu->buffer(5);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Status::Protocol);
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{5});
  EXPECT_TRUE(o.vgpu->cached_ids().empty());
  EXPECT_TRUE(o.conn->list()) << "a bad buffer is not a broken connection";
}

}  // namespace
}  // namespace vgd::client
