// Refresh events as a consumer sees them (docs/protocol.md §5): what arrives on its eventfd (or
// through poll) after a vGPU's vblanks, flips and pipe on/off edges. Values are decoded the way
// docs/protocol.md tells a consumer to: four 16-bit counts (primary, sprite, cursor, display-off).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "events/event_value.h"
#include "events/vgpu_events.h"
#include "sim/inprocess.h"
#include "support.h"

namespace vgd {
namespace {

using events::EventCounts;
using hw::Pipe;
using hw::Plane;

constexpr uint64_t kPeriod = 16'666'667;  // 60 Hz: pipes without timings
constexpr uint32_t kEnable = 1u << 31, kAsync = 1u << 9;
constexpr EventCounts kNone{}, kPrimary{1, 0, 0, 0}, kSprite{0, 1, 0, 0}, kCursor{0, 0, 1, 0}, kOff{0, 0, 0, 1};

UniqueFd make_eventfd(int flags = EFD_NONBLOCK) { return UniqueFd(::eventfd(0, flags | EFD_CLOEXEC)); }
// What a consumer reads from its eventfd: the sum since its last read, decoded.
EventCounts drain(const UniqueFd& fd) {
  uint64_t v = 0;
  return ::read(fd.get(), &v, sizeof v) == sizeof v ? events::decode(v) : EventCounts{};
}
uint64_t ctl_reg(Pipe p, Plane pl) {
  if (pl == Plane::Cursor) return hw::cursor::reg(p, hw::cursor::kCntr);
  return hw::plane::reg(p, universal_index(pl), hw::plane::kCtl);
}
uint64_t surf_reg(Pipe p, Plane pl) {
  if (pl == Plane::Cursor) return hw::cursor::reg(p, hw::cursor::kBase);
  return hw::plane::reg(p, universal_index(pl), hw::plane::kSurf);
}

// A vGPU with refresh events and one eventfd consumer; `reader` is the consumer's end.
class EventsTest : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    gpu->set_vblank_clock(&clock);
    v = &create("GVTg_V5_4");  // up to 1920x1200: the mode-switch test goes to 1080p
    ev = std::make_unique<events::VgpuEvents>(*v);
    UniqueFd efd = make_eventfd();
    reader = UniqueFd(::dup(efd.get()));
    auto id = hub().add_consumer(std::move(efd));
    ASSERT_TRUE(id) << id.error();
    consumer = *id;
  }
  void TearDown() override {
    ev.reset();
    gpu.reset();  // its vGPUs leave the clock before the clock goes
  }
  events::EventHub& hub() { return ev->hub(); }
  // Lights a pipe with its primary plane and takes its first vblank, which announces the picture.
  void light(Pipe p) {
    wr(*v, ctl_reg(p, Plane::Primary), kEnable);
    wr(*v, hw::pipe_reg(p, hw::pipe::kConf), kEnable);
    v->vblank();
    EXPECT_EQ(drain(reader).primary, 1u) << "a pipe that came on announces its picture once";
  }
  void flip(Pipe p, Plane pl, bool async = false) {
    wr(*v, ctl_reg(p, pl), (pl == Plane::Cursor ? 0x27u : kEnable) | (async ? kAsync : 0));
    wr(*v, surf_reg(p, pl), 0x08000000u + (++flips << 20));
  }
  EventCounts vblank_events() {
    v->vblank();
    return drain(reader);
  }

  display::VirtualClock clock;
  Vgpu* v = nullptr;
  std::unique_ptr<events::VgpuEvents> ev;
  UniqueFd reader;
  events::ConsumerId consumer = 0;
  uint32_t flips = 0;
};

TEST(EventValue, FieldsAddUpInTheKernelWithoutMixing) {
  UniqueFd fd = make_eventfd();
  for (uint64_t v : {events::kPrimaryEvent, events::kPrimaryEvent, events::kCursorEvent + events::kSpriteEvent,
                     events::kDisplayOffEvent, events::event_value(events::EventKind::Cursor, 300)})
    ASSERT_EQ(::write(fd.get(), &v, sizeof v), 8);
  EXPECT_EQ(drain(fd), (EventCounts{2, 1, 301, 1})) << "each kind keeps its own count";
  const uint64_t full = events::event_value(events::EventKind::Sprite, events::kFieldMax);
  EXPECT_EQ(events::decode(events::accumulate(full, events::kSpriteEvent)).sprite, events::kFieldMax)
      << "host-side sums saturate instead of turning sprites into cursors";
}

TEST_F(EventsTest, ExactlyOnePrimaryEventAtTheVblankThatLatchesASyncFlip) {
  light(Pipe::A);
  flip(Pipe::A, Plane::Primary);
  EXPECT_EQ(drain(reader), kNone) << "nothing before the flip is on screen";
  EXPECT_EQ(vblank_events(), kPrimary);
  EXPECT_EQ(vblank_events(), kNone) << "a flip is announced once";
}

TEST_F(EventsTest, FrontBufferHeuristicSignalsEveryVblankAfterTenWithoutFlipsUntilTheNextFlip) {
  light(Pipe::A);
  for (int i = 1; i <= 11; ++i) EXPECT_EQ(vblank_events(), kNone) << "flip-less vblank " << i;
  for (int i = 12; i <= 20; ++i) EXPECT_EQ(vblank_events(), kPrimary) << "flip-less vblank " << i;
  EXPECT_TRUE(ev->tracker().front_buffer(Pipe::A));
  EXPECT_EQ(ev->tracker().guessed_events(Pipe::A), 9u) << "vblanks 12 to 20 were guesses";
  flip(Pipe::A, Plane::Primary);
  EXPECT_EQ(vblank_events(), kPrimary) << "the flip itself: one event, not two";
  EXPECT_EQ(ev->tracker().guessed_events(Pipe::A), 9u) << "a flip's event is no guess";
  EXPECT_FALSE(ev->tracker().front_buffer(Pipe::A));
  for (int i = 1; i <= 11; ++i) EXPECT_EQ(vblank_events(), kNone) << "silent again after the flip, vblank " << i;
}

TEST_F(EventsTest, AsyncFlipsAreAnnouncedAtTheNextVblank) {
  light(Pipe::A);
  flip(Pipe::A, Plane::Primary, /*async=*/true);
  flip(Pipe::A, Plane::Primary, /*async=*/true);
  EXPECT_EQ(drain(reader), kNone) << "events come at vblank, not per flip";
  EXPECT_EQ(vblank_events(), kPrimary) << "two async flips in one frame: one change to show";
  EXPECT_EQ(vblank_events(), kNone);
}

TEST_F(EventsTest, CursorOnlyChangeGivesACursorEventAndNoPrimary) {
  light(Pipe::A);
  flip(Pipe::A, Plane::Cursor);
  EXPECT_EQ(vblank_events(), kCursor);
  flip(Pipe::A, Plane::Cursor, /*async=*/true);
  EXPECT_EQ(vblank_events(), kCursor);
  EXPECT_EQ(vblank_events(), kNone);
}

TEST_F(EventsTest, SpriteFlipsGiveSpriteEventsAndKindsCombineInOneVblank) {
  light(Pipe::A);
  flip(Pipe::A, Plane::Sprite);
  EXPECT_EQ(vblank_events(), kSprite);
  flip(Pipe::A, Plane::Primary);
  flip(Pipe::A, Plane::Sprite, /*async=*/true);
  flip(Pipe::A, Plane::Cursor);
  EXPECT_EQ(vblank_events(), (EventCounts{1, 1, 1, 0}));
}

TEST_F(EventsTest, CursorMovesDoNotHideAConsoleDrawnInItsFrontBuffer) {
  light(Pipe::A);
  for (int i = 1; i <= 11; ++i) {
    flip(Pipe::A, Plane::Cursor, /*async=*/true);
    EXPECT_EQ(vblank_events(), kCursor) << "vblank " << i;
  }
  flip(Pipe::A, Plane::Cursor, /*async=*/true);
  EXPECT_EQ(vblank_events(), (EventCounts{1, 0, 1, 0})) << "the primary is refreshed although the cursor moved";
}

TEST_F(EventsTest, MaskedConsumerIsNeitherSignalledNorAccumulatesAndUnmaskedGetsLaterEvents) {
  light(Pipe::A);
  auto poller = hub().add_consumer();
  ASSERT_TRUE(poller);
  ASSERT_TRUE(hub().set_masked(consumer, true));
  ASSERT_TRUE(hub().set_masked(*poller, true));
  flip(Pipe::A, Plane::Primary);
  EXPECT_EQ(vblank_events(), kNone);
  EXPECT_EQ(hub().poll(consumer), 0u) << "nothing kept back for later either";
  EXPECT_EQ(hub().poll(*poller), 0u);
  EXPECT_EQ(hub().stats().masked_dropped, 2u);
  ASSERT_TRUE(hub().set_masked(consumer, false));
  ASSERT_TRUE(hub().set_masked(*poller, false));
  flip(Pipe::A, Plane::Cursor);
  EXPECT_EQ(vblank_events(), kCursor) << "only what happened after unmasking";
  EXPECT_EQ(events::decode(*hub().poll(*poller)), kCursor);
}

TEST_F(EventsTest, DisplayOffIsSignalledOnceAtOnceAndThenSilence) {
  light(Pipe::A);
  clock.advance_by(3 * kPeriod);
  EXPECT_EQ(drain(reader), kNone);
  wr(*v, hw::pipe_reg(Pipe::A, hw::pipe::kConf), 0);
  EXPECT_EQ(drain(reader), kOff) << "no vblank needed: the timer stopped with the pipe";
  wr(*v, hw::pipe_reg(Pipe::A, hw::pipe::kConf), 0);
  EXPECT_FALSE(clock.advance_to_next()) << "no vblank timer runs";
  v->vblank();
  EXPECT_EQ(drain(reader), kNone) << "silence: not even the heuristic for a dark pipe";
}

TEST_F(EventsTest, APipeThatComesBackAnnouncesItselfAndStartsTheHeuristicAfresh) {
  light(Pipe::A);
  for (int i = 0; i < 15; ++i) v->vblank();
  ASSERT_TRUE(ev->tracker().front_buffer(Pipe::A));
  wr(*v, hw::pipe_reg(Pipe::A, hw::pipe::kConf), 0);
  EXPECT_EQ(drain(reader).display_off, 1u);
  light(Pipe::A);
  for (int i = 1; i <= 11; ++i) EXPECT_EQ(vblank_events(), kNone) << "vblank " << i << " after it came back";
  EXPECT_EQ(vblank_events(), kPrimary);
}

TEST_F(EventsTest, ResetAndFailsafeTurnEveryLitPipeOffOnce) {
  light(Pipe::A);
  light(Pipe::B);
  v->reset();
  EXPECT_EQ(drain(reader), (EventCounts{0, 0, 0, 2}));
  light(Pipe::C);
  wr(*v, hw::kPvinfoOffset + 0x808, 1);  // rsv5: insufficient resources → failsafe
  ASSERT_TRUE(v->failsafe());
  EXPECT_EQ(drain(reader), kOff);
  EXPECT_EQ(vblank_events(), kNone);
}

TEST_F(EventsTest, EachPipeHasItsOwnHeuristic) {
  light(Pipe::A);
  light(Pipe::B);
  // Pipe A flips every frame; B shows a still picture. Upstream's per-vGPU counter, reset by A's
  // flips, would never refresh B; C is dark and must not count at all.
  for (int i = 1; i <= 11; ++i) {
    flip(Pipe::A, Plane::Primary);
    EXPECT_EQ(vblank_events(), kPrimary) << "vblank " << i << ": A's flip only";
  }
  flip(Pipe::A, Plane::Primary);
  EXPECT_EQ(vblank_events().primary, 2u) << "A's flip and B's heuristic";
  EXPECT_FALSE(ev->tracker().front_buffer(Pipe::A));
  EXPECT_TRUE(ev->tracker().front_buffer(Pipe::B));
  EXPECT_FALSE(ev->tracker().active(Pipe::C));
}

TEST_F(EventsTest, AnEventfdConsumerReadsTheCountsOfSeveralUnreadVblanks) {
  light(Pipe::A);
  for (Plane pl : {Plane::Primary, Plane::Cursor, Plane::Primary, Plane::Sprite, Plane::Cursor, Plane::Primary}) {
    flip(Pipe::A, pl);
    v->vblank();
  }
  wr(*v, hw::pipe_reg(Pipe::A, hw::pipe::kConf), 0);
  EXPECT_EQ(drain(reader), (EventCounts{3, 1, 2, 1}));
  EXPECT_EQ(hub().stats().signalled, hub().stats().published);
}

TEST_F(EventsTest, APollingConsumerGetsTheSameCountsWithoutAnEventfd) {
  auto poller = hub().add_consumer();
  ASSERT_TRUE(poller);
  EXPECT_EQ(hub().poll(*poller), 0u);
  light(Pipe::A);
  flip(Pipe::A, Plane::Sprite);
  v->vblank();
  flip(Pipe::A, Plane::Cursor, /*async=*/true);
  v->vblank();
  const EventCounts polled = events::decode(*hub().poll(*poller));
  EXPECT_EQ(polled, (EventCounts{1, 1, 1, 0}));
  EXPECT_EQ(hub().poll(*poller), 0u) << "a poll takes what it returns";
  EXPECT_EQ(drain(reader), (EventCounts{0, 1, 1, 0})) << "the eventfd consumer saw the same after its own read";
  EXPECT_FALSE(hub().poll(9999)) << "unknown consumer";
}

TEST_F(EventsTest, AFullCounterLosesNothingAndStallsNobody) {
  light(Pipe::A);
  auto other = hub().add_consumer();
  ASSERT_TRUE(other);
  const uint64_t nearly_full = 0xFFFFFFFFFFFFFFFEull;  // the consumer stopped reading (or wrote itself)
  ASSERT_EQ(::write(reader.get(), &nearly_full, sizeof nearly_full), 8);
  flip(Pipe::A, Plane::Primary);
  v->vblank();
  flip(Pipe::A, Plane::Primary);
  v->vblank();
  EXPECT_EQ(hub().stats().overflowed, 2u) << "refused, not blocked on";
  EXPECT_EQ(events::decode(*hub().poll(*other)).primary, 2u) << "other consumers unaffected";
  uint64_t junk = 0;
  ASSERT_EQ(::read(reader.get(), &junk, sizeof junk), 8);
  flip(Pipe::A, Plane::Cursor);
  EXPECT_EQ(vblank_events(), (EventCounts{2, 0, 1, 0})) << "the refused events arrive with the next";
  ASSERT_EQ(::write(reader.get(), &nearly_full, sizeof nearly_full), 8);
  flip(Pipe::A, Plane::Sprite);
  v->vblank();
  EXPECT_EQ(events::decode(*hub().poll(consumer)), kSprite) << "or can be taken by polling";
}

TEST_F(EventsTest, ConsumersRegisterANonBlockingEventfdAndCanLeave) {
  auto blocking = hub().add_consumer(make_eventfd(0));
  ASSERT_FALSE(blocking);
  EXPECT_NE(blocking.error().find("non-blocking"), std::string::npos);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  UniqueFd pipe_read(p[0]);
  EXPECT_FALSE(hub().add_consumer(UniqueFd(p[1]))) << "a pipe could block or raise SIGPIPE";
  EXPECT_TRUE(hub().remove_consumer(consumer));
  EXPECT_FALSE(hub().remove_consumer(consumer));
  EXPECT_FALSE(hub().set_masked(consumer, true));
  EXPECT_EQ(hub().consumers(), 0u);
  wr(*v, hw::pipe_reg(Pipe::A, hw::pipe::kConf), kEnable);
  flip(Pipe::A, Plane::Primary);
  EXPECT_EQ(vblank_events(), kNone) << "a consumer that left hears nothing";
  ev.reset();
  v->vblank();  // detached: the vGPU runs on with nobody to tell (ASan watches the listeners)
  wr(*v, hw::pipe_reg(Pipe::A, hw::pipe::kConf), 0);
  EXPECT_EQ(drain(reader), kNone);
}

// A guest driver double-buffering on pipe A, its vblanks from a virtual clock: what a viewer
// waiting on the eventfd would be woken for.
class GuestEventsTest : public EventsTest {
 protected:
  void SetUp() override {
    EventsTest::SetUp();
    guest = std::make_unique<InProcessGuest>(*v, gpu->geometry(), &idle);
    ASSERT_EQ(guest->driver().probe(), guest::Error::None);
    ASSERT_EQ(guest->driver().balloon(), guest::Error::None);
  }
  void TearDown() override {
    guest.reset();
    EventsTest::TearDown();
  }
  guest::Surface surface(const guest::Mode& m) {
    guest::Surface s;
    EXPECT_EQ(guest->display().create_surface(m.width, m.height, guest::PixelFormat::Xrgb8888, hw::Tiling::X, s),
              guest::Error::None);
    return s;
  }

  VirtualIdle idle{clock};
  std::unique_ptr<InProcessGuest> guest;
};

TEST_F(GuestEventsTest, EveryDoubleBufferedFlipWakesTheViewerExactlyOnce) {
  const auto& m = guest::kMode1024x768at60;
  guest::Surface buf[2] = {surface(m), surface(m)};
  ASSERT_EQ(guest->display().modeset(Pipe::A, m, buf[0]), guest::Error::None);
  EXPECT_EQ(drain(reader), kNone) << "lit, but nothing scanned out before its first vblank";
  for (int i = 1; i <= 30; ++i) {
    ASSERT_EQ(guest->display().flip(Pipe::A, Plane::Primary, buf[i % 2]), guest::Error::None);
    EXPECT_EQ(drain(reader), kPrimary) << "flip " << i;
  }
  EXPECT_EQ(v->display().stats().vblanks[0], 30u) << "one vblank per flip";
  // The guest stops drawing: 11 quiet frames, then the heuristic refreshes every frame.
  clock.advance_by(11 * kPeriod);
  EXPECT_EQ(drain(reader), kNone);
  clock.advance_by(5 * kPeriod);
  EXPECT_EQ(drain(reader).primary, 5u);
}

TEST_F(GuestEventsTest, AModeSwitchSaysDisplayOffThenAnnouncesTheNewMode) {
  const auto& small = guest::kMode1024x768at60;
  const auto& big = guest::kMode1920x1080at60;
  ASSERT_EQ(guest->display().modeset(Pipe::A, small, surface(small)), guest::Error::None);
  clock.advance_by(kPeriod);
  EXPECT_EQ(drain(reader), kPrimary);
  ASSERT_EQ(guest->display().modeset(Pipe::A, big, surface(big)), guest::Error::None);
  EXPECT_EQ(drain(reader), kOff) << "the pipe went dark for the modeset";
  clock.advance_by(kPeriod);
  EXPECT_EQ(drain(reader), kPrimary) << "query the planes: a new mode is on screen";
}

}  // namespace
}  // namespace vgd
