// The virtual monitor's vblank events (docs/direct-flip.md, Vblank events): while a CRTC is
// watched and lit, one event per vblank with its vblank count and its clock's time; none
// unwatched or while off; at a vblank, the vblank event before the page flips latched there.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "virtual_monitor_support.h"

namespace vgd::hostdisplay::test {
namespace {

class VirtualMonitorVblankTest : public VirtualMonitorTest {
 protected:
  // Every event dispatch() delivers, in order, as text: "vblank <crtc> <seq> <ns>" and
  // "flip <crtc> <seq> <ns> <user data>".
  std::vector<std::string> events() {
    std::vector<std::string> out;
    mon->dispatch(EventHandlers{
        [&](const FlipEvent& e) {
          out.push_back(fmt::format("flip {} {} {} {}", e.crtc_id, e.sequence, e.timestamp.count(), e.user_data));
        },
        [&](const VblankEvent& e) {
          out.push_back(fmt::format("vblank {} {} {}", e.crtc_id, e.sequence, e.timestamp.count()));
        }});
    return out;
  }
  std::vector<VblankEvent> vblanks() {
    std::vector<VblankEvent> out;
    mon->dispatch(EventHandlers{{}, [&](const VblankEvent& e) { out.push_back(e); }});
    return out;
  }
  void watch(uint32_t c, bool on) {
    auto w = mon->watch_vblanks(c, on);
    ASSERT_TRUE(w) << w.error();
    EXPECT_TRUE(*w);
  }
};

TEST_F(VirtualMonitorVblankTest, AWatchedCrtcDeliversEveryVblankWithItsCountAndItsClocksTime) {
  light();  // 60 Hz
  const uint64_t lit1 = mon->now_ns();
  ASSERT_TRUE(mon->commit(light_state(crtc2, connector2, kSmall), kAllowModeset));  // 50 Hz, unwatched
  watch(crtc, true);
  mon->advance_by(60 * k60Hz);
  std::vector<VblankEvent> got = vblanks();
  ASSERT_EQ(got.size(), 60u) << "one per vblank of CRTC 1, none of the unwatched CRTC 2";
  for (uint64_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].crtc_id, crtc);
    EXPECT_EQ(got[k].sequence, k + 1) << "the CRTC's vblank count, one more each time";
    EXPECT_EQ(static_cast<uint64_t>(got[k].timestamp.count()), lit1 + (k + 1) * k60Hz) << "the clock's vblank time";
  }
  EXPECT_EQ(got.back().sequence, mon->vblank_count(crtc));
  EXPECT_EQ(mon->counters().events, 0u) << "the counters count page flips, not vblanks";

  // Both watched: each CRTC's own vblanks, merged in time order.
  watch(crtc2, true);
  const uint64_t from = mon->now_ns(), seq2 = mon->vblank_count(crtc2);
  mon->advance_by(6 * k60Hz);  // 6 vblanks at 60 Hz, 5 at 50 Hz
  got = vblanks();
  ASSERT_EQ(got.size(), 6u + 5u);
  uint64_t last_ns = from, n2 = 0;
  for (const VblankEvent& e : got) {
    EXPECT_GE(static_cast<uint64_t>(e.timestamp.count()), last_ns);
    last_ns = e.timestamp.count();
    if (e.crtc_id == crtc2) {
      EXPECT_EQ(e.sequence, seq2 + ++n2);
    }
  }
  EXPECT_EQ(n2, 5u);
}

TEST_F(VirtualMonitorVblankTest, NoneUnwatchedOrWhileTheCrtcIsOff) {
  light();
  mon->advance_by(5 * k60Hz);
  EXPECT_FALSE(readable(mon->event_fd())) << "not watched: no wake-ups";
  watch(crtc, true);
  watch(crtc, false);
  mon->advance_by(5 * k60Hz);
  EXPECT_TRUE(vblanks().empty());

  watch(crtc, true);
  State off;
  off.crtcs.push_back(CrtcState{crtc, false, std::nullopt, std::nullopt});
  commit_ok(off, kAllowModeset);
  mon->advance_by(5 * k60Hz);
  EXPECT_FALSE(readable(mon->event_fd())) << "an off CRTC has no vblanks";
  const uint64_t count = mon->vblank_count(crtc);
  light();  // the watch stays: the vblanks come again, the count going on from where it stopped
  const uint64_t lit = mon->now_ns();
  mon->advance_to_next_vblank();
  const std::vector<VblankEvent> got = vblanks();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].sequence, count + 1);
  EXPECT_EQ(static_cast<uint64_t>(got[0].timestamp.count()), lit + k60Hz);

  auto unknown = mon->watch_vblanks(primary, true);
  ASSERT_FALSE(unknown) << "a plane is no CRTC";
  EXPECT_NE(unknown.error().find("no CRTC"), std::string::npos) << unknown.error();
}

TEST_F(VirtualMonitorVblankTest, AtAVblankItsEventComesBeforeThePageFlipLatchedThere) {
  light();
  watch(crtc, true);
  mon->advance_to_next_vblank();
  events();
  commit_ok(planes({on(primary, crtc, pattern(64, 64, 1))}), kNonblock | kPageFlipEvent, 42);
  mon->advance_to_next_vblank();
  const uint64_t t = mon->now_ns();
  EXPECT_EQ(events(), (std::vector<std::string>{fmt::format("vblank {} 2 {}", crtc, t),
                                                 fmt::format("flip {} 2 {} 42", crtc, t)}))
      << "one clock: the same sequence and time, the vblank first";

  // A caller that takes page flips only still gets them; the vblank events are dropped.
  commit_ok(planes({on(primary, crtc, pattern(64, 64, 2))}), kNonblock | kPageFlipEvent, 43);
  mon->advance_to_next_vblank();
  const std::vector<FlipEvent> flips = drain();
  ASSERT_EQ(flips.size(), 1u);
  EXPECT_EQ(flips[0].user_data, 43u);
  EXPECT_TRUE(events().empty());
}

}  // namespace
}  // namespace vgd::hostdisplay::test
