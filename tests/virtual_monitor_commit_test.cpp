// The virtual monitor's atomic commits behave as KMS's: each refusal with the kernel's errno and
// nothing changed, TEST_ONLY changing nothing, EBUSY for a nonblocking commit before the previous
// one latched, page-flip events in order with the vblank sequence and the caller's data, async
// flips at once, and modesets only with ALLOW_MODESET, counted.
#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <string>

#include "virtual_monitor_support.h"

namespace vgd::hostdisplay::test {
namespace {

TEST_F(VirtualMonitorTest, EveryRefusalHasTheKernelsErrnoAndChangesNothing) {
  light();
  BufferRef shown = pattern(kBig.width, kBig.height, 1);
  commit_ok(planes({on(primary, crtc, shown)}));
  mon->advance_to_next_vblank();
  BufferRef b64 = solid(64, 64, 0xFF00FF00), xrgb64 = solid(64, 64, 0xFF00FF00, drm::kXRGB8888);
  BufferRef big = pattern(kBig.width, kBig.height, 2);
  auto other = VirtualMonitor::create({});
  ASSERT_TRUE(other);
  auto foreign = (*other)->create_buffer(64, 64, drm::kXRGB8888);
  ASSERT_TRUE(foreign);

  struct Case {
    std::string what;
    std::function<State()> state;
    uint32_t flags;
    int err;
  };
  auto with = [&](PlaneState p, const std::function<void(PlaneState&)>& change) {
    change(p);
    return planes({p});
  };
  const std::vector<Case> cases = {
      {"unknown plane", [&] { return planes({on(999, crtc, big)}); }, 0, EINVAL},
      {"plane on another output's CRTC", [&] { return planes({on(primary, crtc2, big)}); }, 0, EINVAL},
      {"unknown CRTC", [&] { return light_state(999, connector, kBig); }, kAllowModeset, EINVAL},
      {"framebuffer without a CRTC", [&] { return with(on(primary, crtc, big), [](PlaneState& p) { p.crtc_id = 0; }); }, 0, EINVAL},
      {"CRTC without a framebuffer", [&] { return with(on(primary, crtc, big), [](PlaneState& p) { p.buffer = nullptr; }); }, 0, EINVAL},
      {"another monitor's buffer", [&] { return planes({on(overlay, crtc, *foreign)}); }, 0, EINVAL},
      {"a format the cursor does not take", [&] { return planes({on(cursor, crtc, xrgb64)}); }, 0, EINVAL},
      {"source past the buffer's right edge",
       [&] { return with(on(overlay, crtc, b64), [](PlaneState& p) { p.src_x = fixed16(1); }); }, 0, ENOSPC},
      {"source taller than the buffer",
       [&] { return with(on(overlay, crtc, b64), [](PlaneState& p) { p.src_h = fixed16(65), p.crtc_h = 65; }); }, 0, ENOSPC},
      {"scaling up", [&] { return with(on(overlay, crtc, b64), [](PlaneState& p) { p.crtc_w = p.crtc_h = 128; }); }, 0, ERANGE},
      {"scaling down",
       [&] { return with(on(primary, crtc, big), [](PlaneState& p) { p.crtc_w /= 2; }); }, 0, ERANGE},
      {"fractional source", [&] { return with(on(overlay, crtc, big), [](PlaneState& p) { p.src_x = 0x8000, p.src_w = fixed16(100), p.crtc_w = 100; }); }, 0, EINVAL},
      {"empty plane", [&] { return with(on(overlay, crtc, b64), [](PlaneState& p) { p.src_w = 0, p.crtc_w = 0; }); }, 0, EINVAL},
      {"cursor 32x32", [&] { return planes({on(cursor, crtc, solid(32, 32, 0xFF00FF00))}); }, 0, EINVAL},
      {"cursor 64x128", [&] { return planes({on(cursor, crtc, solid(64, 128, 0xFF00FF00))}); }, 0, EINVAL},
      {"cursor 300x300", [&] { return planes({on(cursor, crtc, solid(300, 300, 0xFF00FF00))}); }, 0, EINVAL},
      {"plane on a CRTC with no mode", [&] { return planes({on(primary2, crtc2, big)}); }, 0, EINVAL},
      {"mode change without ALLOW_MODESET", [&] { return light_state(crtc, connector, kSmall); }, 0, EINVAL},
      {"switching off without ALLOW_MODESET",
       [&] { State s; s.crtcs.push_back(CrtcState{crtc, false, std::nullopt, std::nullopt}); return s; }, 0, EINVAL},
      {"lighting without ALLOW_MODESET", [&] { return light_state(crtc2, connector2, kBig); }, 0, EINVAL},
      {"routing a connector to a CRTC it cannot use", [&] { return light_state(crtc2, connector, kBig); }, kAllowModeset, EINVAL},
      {"unknown connector", [&] { return light_state(crtc2, 999, kBig); }, kAllowModeset, EINVAL},
      {"a mode the monitor does not list",
       [&] { return light_state(crtc, connector, Mode{1000, 1000, 60'000, "1000x1000", false, {}}); }, kAllowModeset, EINVAL},
      {"active without a mode",
       [&] { State s; s.crtcs.push_back(CrtcState{crtc2, true, std::nullopt, connector2}); return s; }, kAllowModeset, EINVAL},
      {"TEST_ONLY with PAGE_FLIP_EVENT", [&] { return planes({on(primary, crtc, big)}); }, kTestOnly | kPageFlipEvent, EINVAL},
      {"event on a CRTC that stays off", [&] { return planes({off(primary2)}); }, kPageFlipEvent, EINVAL},
      {"async modeset", [&] { return light_state(crtc, connector, kSmall); }, kAsync | kAllowModeset, EINVAL},
      {"unknown flag", [&] { return planes({on(primary, crtc, big)}); }, 1u << 9, EINVAL},
  };
  const VirtualMonitor::Frame before = mon->scanout(crtc);
  const CommitCounters c0 = mon->counters();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = mon->commit(c.state(), c.flags, 7);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().err, c.err) << r.error().what;
    EXPECT_FALSE(r.error().what.empty());
  }
  mon->advance_by(3 * k60Hz);
  EXPECT_EQ(mon->scanout(crtc).number, before.number) << "no refused update reached the screen";
  EXPECT_EQ(mon->scanout(crtc).image->px, before.image->px);
  EXPECT_FALSE(mon->scanout(crtc2).image);
  EXPECT_FALSE(readable(mon->event_fd())) << "and none sent an event";
  const Resources& r = mon->resources();
  EXPECT_TRUE(r.crtcs[0].active);
  EXPECT_TRUE(r.crtcs[0].mode->same_timing(kBig));
  EXPECT_FALSE(r.crtcs[1].active);
  EXPECT_EQ(r.outputs[1].crtc_id, 0u);
  const CommitCounters c1 = mon->counters();
  EXPECT_EQ(c1.refused - c0.refused, cases.size());
  EXPECT_EQ(c1.commits, c0.commits);
  EXPECT_EQ(c1.events, c0.events);
  // What is there still flips: the refusals left the committed state as it was.
  commit_ok(planes({on(primary, crtc, big)}), kNonblock);
  mon->advance_to_next_vblank();
  EXPECT_EQ(screen().at(1, 1), 0xFF000000u | pattern_px(1, 1, 2));
}

TEST_F(VirtualMonitorTest, TestOnlyChecksAndChangesNothing) {
  light();
  BufferRef b = pattern(kBig.width, kBig.height, 4);
  const VirtualMonitor::Frame before = mon->scanout(crtc);
  EXPECT_TRUE(mon->commit(planes({on(primary, crtc, b)}), kTestOnly | kNonblock));
  EXPECT_TRUE(mon->commit(light_state(crtc2, connector2, kSmall), kTestOnly | kAllowModeset));
  auto refused = mon->commit(light_state(crtc2, connector2, kSmall), kTestOnly);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().err, EINVAL);
  mon->advance_by(5 * k60Hz);
  EXPECT_EQ(mon->scanout(crtc).number, before.number);
  EXPECT_FALSE(mon->scanout(crtc2).image);
  EXPECT_FALSE(mon->resources().crtcs[1].active);
  EXPECT_EQ(mon->resources().outputs[1].crtc_id, 0u);
  const CommitCounters c = mon->counters();
  EXPECT_EQ(c.tests, 3u);
  EXPECT_EQ(c.commits, 1u) << "the modeset of light() only";
  EXPECT_EQ(c.refused, 1u);
  // A test passes or fails as the commit then does.
  commit_ok(planes({on(primary, crtc, b)}), kNonblock);
}

TEST_F(VirtualMonitorTest, NonblockingCommitIsBusyUntilThePreviousOneLatched) {
  light();
  commit_ok(light_state(crtc2, connector2, kBig), kAllowModeset);
  BufferRef a = pattern(kBig.width, kBig.height, 1), b = pattern(kBig.width, kBig.height, 2);
  commit_ok(planes({on(primary, crtc, a)}), kNonblock);
  auto busy = mon->commit(planes({on(primary, crtc, b)}), kNonblock);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().err, EBUSY);
  EXPECT_TRUE(mon->commit(planes({on(primary, crtc, b)}), kNonblock | kTestOnly)) << "a test is never busy";
  commit_ok(planes({on(primary2, crtc2, b)}), kNonblock);  // another CRTC is not busy
  mon->advance_to_next_vblank();
  EXPECT_EQ(screen().at(3, 3), 0xFF000000u | pattern_px(3, 3, 1));
  commit_ok(planes({on(primary, crtc, b)}), kNonblock);
  mon->advance_to_next_vblank();
  EXPECT_EQ(screen().at(3, 3), 0xFF000000u | pattern_px(3, 3, 2));
  EXPECT_EQ(mon->counters().refused, 1u);

  // A blocking commit behind a pending one waits its turn: one latches per vblank, in order.
  commit_ok(planes({on(primary, crtc, a)}), kNonblock);
  commit_ok(planes({on(primary, crtc, b)}));
  mon->advance_to_next_vblank();
  EXPECT_EQ(screen().at(3, 3), 0xFF000000u | pattern_px(3, 3, 1));
  mon->advance_to_next_vblank();
  EXPECT_EQ(screen().at(3, 3), 0xFF000000u | pattern_px(3, 3, 2));
}

TEST_F(VirtualMonitorTest, PageFlipEventsComeInOrderAtTheirVblanksWithTheCallersData) {
  light();
  const uint64_t lit_at = mon->now_ns();
  std::vector<BufferRef> bufs = {pattern(64, 64, 1), pattern(64, 64, 2), pattern(64, 64, 3)};
  std::vector<FlipEvent> got;
  for (uint64_t k = 0; k < 3; ++k) {
    commit_ok(planes({on(primary, crtc, bufs[k])}), kNonblock | kPageFlipEvent, 100 + k);
    EXPECT_FALSE(readable(mon->event_fd())) << "no event before the flip latched";
    mon->advance_by(2 * k60Hz);  // latches at the first vblank; the second has nothing to latch
    ASSERT_TRUE(readable(mon->event_fd()));
    for (const FlipEvent& e : drain()) got.push_back(e);
    EXPECT_FALSE(readable(mon->event_fd())) << "dispatch consumed the wake-up";
    EXPECT_TRUE(drain().empty());
  }
  ASSERT_EQ(got.size(), 3u);
  for (uint64_t k = 0; k < 3; ++k) {
    EXPECT_EQ(got[k].crtc_id, crtc);
    EXPECT_EQ(got[k].user_data, 100 + k);
    EXPECT_EQ(got[k].sequence, 1 + 2 * k) << "the CRTC's vblank counter";
    EXPECT_EQ(static_cast<uint64_t>(got[k].timestamp.count()), lit_at + (1 + 2 * k) * k60Hz);
  }
  EXPECT_EQ(mon->counters().events, 3u);

  // One commit over both CRTCs: one event for each, each at its own CRTC's vblank.
  ASSERT_TRUE(mon->commit(light_state(crtc2, connector2, kSmall), kAllowModeset));
  const uint64_t lit2 = mon->now_ns();
  commit_ok(planes({on(primary, crtc, bufs[0]), on(primary2, crtc2, bufs[1])}), kNonblock | kPageFlipEvent, 9);
  mon->advance_by(k50Hz);  // 60 Hz fires first, then 50 Hz
  got = drain();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].crtc_id, crtc);
  EXPECT_EQ(got[1].crtc_id, crtc2);
  EXPECT_EQ(got[1].sequence, 1u);
  EXPECT_EQ(static_cast<uint64_t>(got[1].timestamp.count()), lit2 + k50Hz);
  EXPECT_EQ(got[0].user_data, 9u);
  EXPECT_EQ(got[1].user_data, 9u);
}

TEST_F(VirtualMonitorTest, AsyncFlipLatchesAtOnceAndChangesOnlyTheBuffer) {
  light();
  BufferRef a = pattern(64, 64, 1), b = pattern(64, 64, 2), other_size = pattern(32, 32, 3);
  commit_ok(planes({on(primary, crtc, a), on(overlay, crtc, a, 100, 0)}));
  mon->advance_to_next_vblank();
  const uint64_t now = mon->now_ns(), seq = mon->vblank_count(crtc);
  commit_ok(planes({on(primary, crtc, b)}), kAsync | kPageFlipEvent, 5);
  EXPECT_EQ(screen().at(3, 3), 0xFF000000u | pattern_px(3, 3, 2)) << "no vblank needed";
  std::vector<FlipEvent> got = drain();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].sequence, seq);
  EXPECT_EQ(static_cast<uint64_t>(got[0].timestamp.count()), now);
  EXPECT_EQ(got[0].user_data, 5u);
  EXPECT_EQ(mon->counters().async, 1u);

  for (const State& s : {planes({on(overlay, crtc, b, 100, 0)}), planes({on(primary, crtc, a, 1, 0)}),
                         planes({on(primary, crtc, other_size)}), planes({off(primary)})}) {
    auto r = mon->commit(s, kAsync);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().err, EINVAL) << r.error().what;
  }
  commit_ok(planes({on(primary, crtc, a)}), kNonblock);
  auto busy = mon->commit(planes({on(primary, crtc, b)}), kAsync);
  EXPECT_EQ(busy ? 0 : busy.error().err, EBUSY) << "not past a pending flip either";
}

// Like virtio-gpu's, the monitor's cursor planes have a hotspot (where a host would draw its own
// pointer); other planes have no such property and ignore one.
TEST_F(VirtualMonitorTest, TheCursorsHotspotLatchesWithItAndIsKeptUntilChanged) {
  light();
  BufferRef bg = pattern(kBig.width, kBig.height, 1), cur = buffer(64, 64, drm::kARGB8888);
  PlaneState c = on(cursor, crtc, cur, 10, 20), p = on(primary, crtc, bg);
  c.hotspot = Hotspot{3, 4};
  p.hotspot = Hotspot{5, 6};
  commit_ok(planes({p, c}), kNonblock);
  EXPECT_FALSE(mon->shown_plane(cursor)->hotspot) << "not before the vblank";
  mon->advance_to_next_vblank();
  EXPECT_EQ(mon->shown_plane(cursor)->hotspot, (Hotspot{3, 4}));
  EXPECT_FALSE(mon->shown_plane(primary)->hotspot) << "the primary has no hotspot";
  commit_ok(planes({on(cursor, crtc, cur, 30, 40)}));  // moved, no hotspot said
  mon->advance_to_next_vblank();
  EXPECT_EQ(mon->shown_plane(cursor)->crtc_x, 30);
  EXPECT_EQ(mon->shown_plane(cursor)->hotspot, (Hotspot{3, 4})) << "kept";
  EXPECT_FALSE(mon->shown_plane(12345)) << "no such plane";
}

TEST_F(VirtualMonitorTest, ModesetsNeedAllowModesetAndAreCounted) {
  EXPECT_EQ(mon->counters().with_allow_modeset, 0u);
  light(kBig);
  const Resources& r = mon->resources();
  EXPECT_TRUE(r.crtcs[0].active);
  EXPECT_EQ(r.outputs[0].crtc_id, crtc);
  BufferRef b = pattern(64, 64, 1);
  for (int i = 0; i < 3; ++i) {
    commit_ok(planes({on(primary, crtc, b)}), kNonblock | kPageFlipEvent);
    mon->advance_to_next_vblank();
  }
  drain();
  EXPECT_EQ(mon->counters().with_allow_modeset, 1u) << "flips carry no ALLOW_MODESET";

  // The same mode again is no modeset; another one is, and changes the frame and the refresh.
  commit_ok(light_state(crtc, connector, kBig));
  mon->advance_to_next_vblank();
  auto refused = mon->commit(light_state(crtc, connector, kSmall), kNonblock);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().err, EINVAL);
  commit_ok(light_state(crtc, connector, kSmall), kAllowModeset | kPageFlipEvent, 3);
  EXPECT_EQ(mon->counters().with_allow_modeset, 2u);
  EXPECT_TRUE(r.crtcs[0].mode->same_timing(kSmall)) << "resources show the committed mode";
  mon->advance_to_next_vblank();
  const uint64_t t0 = drain().at(0).timestamp.count();
  EXPECT_EQ(screen().width, kSmall.width);
  EXPECT_EQ(screen().height, kSmall.height);
  EXPECT_EQ(screen().at(3, 3), 0xFF000000u | pattern_px(3, 3, 1)) << "the planes stay";
  commit_ok(planes({on(primary, crtc, b)}), kNonblock | kPageFlipEvent);
  mon->advance_to_next_vblank();
  EXPECT_EQ(static_cast<uint64_t>(drain().at(0).timestamp.count()) - t0, k50Hz) << "vblanks at the new rate";

  // Switching off: at once, and no more vblanks.
  State off;
  off.crtcs.push_back(CrtcState{crtc, false, std::nullopt, std::nullopt});
  commit_ok(off, kAllowModeset);
  EXPECT_FALSE(mon->scanout(crtc).image);
  EXPECT_FALSE(r.crtcs[0].active);
  const uint64_t count = mon->vblank_count(crtc);
  mon->advance_by(10 * k50Hz);
  EXPECT_EQ(mon->vblank_count(crtc), count);
  EXPECT_EQ(mon->counters().with_allow_modeset, 3u);
}

}  // namespace
}  // namespace vgd::hostdisplay::test
