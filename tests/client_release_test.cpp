// libvgd-client on vGPUs with tearing control (hold, copy): a buffer's daemon reference goes
// back as soon as the caller drops its last handle, and never after the session closed. Against
// a fake daemon (client_fake_daemon.h); client_session_test.cpp has the cache of vGPUs without.
#include <gtest/gtest.h>

#include "client/client.h"
#include "client_fake_daemon.h"

namespace vgd::client {
namespace {

using proto::MsgType;
using proto::Tearing;
using test::kPage;
using test::Opened;
using test::word_at;

class ReleaseOnDrop : public ::testing::TestWithParam<Tearing> {};

TEST(Client, ListAndOpenTellTheTearingControl) {
  test::FakeDaemon d;
  d.set_tearing(1, Tearing::Copy);
  d.set_tearing(2, Tearing::Hold);
  auto conn = d.connect();
  ASSERT_TRUE(conn) << describe(conn.error());
  auto list = conn->list();
  ASSERT_TRUE(list);
  EXPECT_EQ((*list)[0].tearing, Tearing::Copy);
  EXPECT_EQ((*list)[1].tearing, Tearing::Hold);
  EXPECT_EQ(tearing_name(Tearing::Hold), "hold");
  auto v = conn->open(2);
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_EQ(v->tearing(), Tearing::Hold);
  EXPECT_TRUE(v->releases_on_drop());
  EXPECT_EQ(d.types(), (std::vector<uint16_t>{1, 2, 2, 3})) << "Hello, List, then List and Open for open()";
}

TEST_P(ReleaseOnDrop, TheLastHandleGoingReturnsTheReference) {
  Opened o(GetParam());
  ASSERT_EQ(o.vgpu->tearing(), GetParam());
  ASSERT_TRUE(o.vgpu->releases_on_drop());
  auto b = o.vgpu->buffer(3);
  ASSERT_TRUE(b) << describe(b.error());
  std::shared_ptr<const MappedBuffer> copy = *b;
  EXPECT_EQ(word_at(*copy, 0), 3 * kPage);
  EXPECT_EQ(o.vgpu->cached_ids(), std::vector<uint32_t>{3});
  b->reset();
  EXPECT_TRUE(o.d.releases().empty()) << "a handle is still out";
  copy.reset();
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{3});
  EXPECT_TRUE(o.vgpu->cached_ids().empty()) << "nothing is kept for the caller";
  EXPECT_EQ(o.vgpu->counters().releases, 1u);
  ASSERT_TRUE(o.vgpu->buffer(3));  // dropped at once, as a temporary
  EXPECT_EQ(o.d.gets(), (std::vector<uint32_t>{3, 3})) << "a dropped buffer is fetched again";
  EXPECT_EQ(o.d.releases(), (std::vector<uint32_t>{3, 3}));
}

TEST_P(ReleaseOnDrop, AViewerThatDropsEachFrameHoldsNothingBetweenFrames) {
  Opened o(GetParam());
  for (uint32_t frame = 0; frame < 20; ++frame) {
    auto b = o.vgpu->buffer(1 + frame % 2);  // a guest flipping between two buffers
    ASSERT_TRUE(b);
    EXPECT_EQ(word_at(**b, 0), (1 + frame % 2) * kPage);
    EXPECT_EQ(o.d.releases().size(), frame) << "the previous frame went back when it was dropped";
  }
  EXPECT_EQ(o.d.gets().size(), 20u);
  EXPECT_EQ(o.d.releases().size(), 20u);
  EXPECT_EQ(o.vgpu->counters().cache_misses, 20u);
}

TEST(Session, WithoutTearingControlTheSameViewerFetchesTwiceAndReleasesNothing) {
  Opened o(Tearing::None);
  for (uint32_t frame = 0; frame < 20; ++frame) ASSERT_TRUE(o.vgpu->buffer(1 + frame % 2));
  EXPECT_EQ(o.d.gets(), (std::vector<uint32_t>{1, 2}));
  EXPECT_TRUE(o.d.releases().empty());
  EXPECT_EQ(o.vgpu->cached_ids(), (std::vector<uint32_t>{2, 1}));
}

TEST_P(ReleaseOnDrop, AskingAgainForAHeldBufferTakesNoNewReference) {
  Opened o(GetParam());
  auto a = o.vgpu->buffer(4);
  auto b = o.vgpu->buffer(4);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(o.d.gets(), std::vector<uint32_t>{4});
  EXPECT_EQ(o.vgpu->counters().cache_hits, 1u);
  a->reset();
  b->reset();
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{4}) << "one reference, one Release";
}

TEST_P(ReleaseOnDrop, ReleaseAndAStaleIdReturnTheReferenceOnceOnly) {
  Opened o(GetParam());
  auto b = o.vgpu->buffer(2);
  ASSERT_TRUE(b);
  ASSERT_TRUE(o.vgpu->release(2));
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{2});
  auto again = o.vgpu->buffer(2);  // a new reference, while the old handle is still out
  ASSERT_TRUE(again);
  b->reset();
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{2}) << "the released handle sends nothing";
  again->reset();
  EXPECT_EQ(o.d.releases(), (std::vector<uint32_t>{2, 2}));

  // The same id for another surface (a reset vGPU reused it): fetched anew, released once each.
  auto q = o.vgpu->query(proto::kPlanePrimary);
  ASSERT_TRUE(q);
  auto old = o.vgpu->buffer(*q);
  q->width = 16;
  auto fresh = o.vgpu->buffer(*q);
  ASSERT_TRUE(old && fresh);
  EXPECT_NE(old->get(), fresh->get());
  EXPECT_EQ(o.d.releases(), (std::vector<uint32_t>{2, 2, 3}));
  old->reset();
  fresh->reset();
  EXPECT_EQ(o.d.releases(), (std::vector<uint32_t>{2, 2, 3, 3}));
}

TEST_P(ReleaseOnDrop, AHandleDroppedAfterCloseSendsNothingEvenToANewSession) {
  Opened o(GetParam());
  auto b = o.vgpu->buffer(3);
  ASSERT_TRUE(b);
  ASSERT_TRUE(o.vgpu->close());
  auto reopened = o.conn->open(1);
  ASSERT_TRUE(reopened);
  auto theirs = reopened->buffer(3);
  ASSERT_TRUE(theirs);
  EXPECT_EQ(word_at(**b, 0), 3 * kPage) << "still mapped after close";
  b->reset();
  EXPECT_TRUE(o.d.releases().empty()) << "Close returned it; the new session's reference is not ours";
  theirs->reset();
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{3});
}

TEST_P(ReleaseOnDrop, AHandleOutlivingSessionAndConnectionSendsNothing) {
  Opened o(GetParam());
  auto b = o.vgpu->buffer(5);
  ASSERT_TRUE(b);
  std::shared_ptr<const MappedBuffer> kept = *b;
  o.vgpu.reset();
  o.conn.reset();
  EXPECT_EQ(o.d.count(MsgType::Close), 1u);
  EXPECT_EQ(word_at(*kept, 0), 5 * kPage);
  kept.reset();
  b->reset();
  EXPECT_TRUE(o.d.releases().empty());
  EXPECT_EQ(o.d.count(MsgType::Release), 0u);
}

TEST_P(ReleaseOnDrop, AMovedSessionTakesItsHandlesAlong) {
  Opened o(GetParam());
  auto b = o.vgpu->buffer(6);
  ASSERT_TRUE(b);
  VgpuSession moved = std::move(*o.vgpu);
  o.vgpu.reset();  // the moved-from shell: closes nothing
  b->reset();
  EXPECT_EQ(o.d.releases(), std::vector<uint32_t>{6});
  EXPECT_EQ(moved.counters().releases, 1u);
  EXPECT_EQ(o.d.count(MsgType::Close), 0u);
}

TEST_P(ReleaseOnDrop, AHandleDroppedAfterTheDaemonWentAwayIsHarmless) {
  Opened o(GetParam());
  auto b = o.vgpu->buffer(7);
  ASSERT_TRUE(b);
  o.d.hang_up();
  b->reset();  // the Release fails quietly: the connection is broken
  EXPECT_FALSE(o.vgpu->query(proto::kPlanePrimary));
}

INSTANTIATE_TEST_SUITE_P(Tearing, ReleaseOnDrop, ::testing::Values(Tearing::Hold, Tearing::Copy),
                         [](const ::testing::TestParamInfo<Tearing>& p) { return std::string(tearing_name(p.param)); });

}  // namespace
}  // namespace vgd::client
