// VncStream end to end: an in-process vgpud, the stream as its consumer, libvncclient viewers.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "daemon_support.h"
#include "vnc_support.h"
#include "viewers/display_off.h"
#include "viewers/vnc_stream.h"

namespace vgd::test {
namespace {

using viewers::VncOptions;
using viewers::VncStream;

DaemonConfig one_desktop() {
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};
  cfg.vgpus[0].type = "GVTg_V5_4";  // up to 1920x1200: the resize test goes to 1080p
  // The stream and the tests' snapshots read guest memory as the daemon's own viewers do: the
  // snapshot of a front buffer drawn in place must show it at once, not at the next copy.
  cfg.vgpus[0].access.trusted_uids = {::getuid()};
  return cfg;
}

std::unique_ptr<VncStream> start_stream(const RunningDaemon& d, std::string password = kVncPassword) {
  VncOptions o = vnc_options(d.path);
  o.vgpu = 1;
  o.password = std::move(password);
  auto s = VncStream::start(o);
  EXPECT_TRUE(s.has_value()) << s.error();
  return s ? std::move(*s) : nullptr;
}

// One desktop vGPU in an in-process vgpud and its VNC stream on a free port.
class VncStreamTest : public ::testing::Test {
 protected:
  void start(const std::string& name, std::string password = kVncPassword) {
    d.start(one_desktop(), name);
    stream = start_stream(d, std::move(password));
    ASSERT_TRUE(stream);
  }
  // ... and the viewer `v` connected to it.
  void start_viewing(const std::string& name) {
    ASSERT_NO_FATAL_FAILURE(start(name));
    ASSERT_TRUE(v.connect(stream->port()));
  }
  void fast_viewers_stay_live(bool slow_takes_cursor);

  RunningDaemon d;
  std::unique_ptr<VncStream> stream;
  Viewer v;
};

// The desktop's clock panel, redrawn in place showing frame n's time.
void draw_clock(guest::Canvas& c, uint32_t n) {
  char text[9];
  guest::DesktopWorkload::clock_text(n, text);
  const auto w = int32_t(guest::Canvas::text_width(text, 2));
  c.fill_rect(int32_t(c.width()) - 12 - w, 6, w, 16, 0xFF15191E);
  c.draw_text(int32_t(c.width()) - 12 - w, 6, text, 0xFFFFFFFF, 2);
}

TEST_F(VncStreamTest, PixelsEqualTheComposedFrame) {
  ASSERT_NO_FATAL_FAILURE(start_viewing("vnc-pixels"));
  ASSERT_TRUE(eventually([&] { return stream->stats().frames > 5; })) << "no frames composed";
  d.host->stop_guests();  // the display freezes where it was; vblanks go on
  const fb::Image want = daemon_picture(d.path, 1, false);
  ASSERT_EQ(want.width, 1024u);
  EXPECT_TRUE(eventually([&] { return v.shows(want); })) << differing(v.picture(), want) << " pixels differ";
  const auto st = stream->stats();
  EXPECT_EQ(st.clients, 1u);
  EXPECT_EQ(st.width, 1024u);
  EXPECT_GT(st.events, 0u);
  EXPECT_GT(st.bytes_sent, 1024u * 768u * 4u);  // at least one whole frame, raw
  // The cursor is not in the picture: it went as a shape with its hotspot.
  const ViewerLog log = v.log();
  EXPECT_GE(log.cursor_shapes, 1u);
  EXPECT_EQ(log.hot_x, int(guest::DesktopWorkload::kHotX));
  EXPECT_EQ(log.hot_y, int(guest::DesktopWorkload::kHotY));
  EXPECT_EQ(log.cursor_w, int(guest::DesktopWorkload::kCursorSize));
}

TEST_F(VncStreamTest, AClockTickSendsAFewTilesAndAFlipOneRectangle) {
  ASSERT_NO_FATAL_FAILURE(start_viewing("vnc-damage"));
  d.host->stop_guests();
  d.host->find(1)->session().stop();  // pipe off, the old guest's buffers gone
  HandGuest g(*d.host, 1);
  g.light(guest::kMode1024x768at60, [](guest::Canvas& c) { guest::DesktopWorkload::render_scene(c, 0); });
  const fb::Image lit = daemon_picture(d.path, 1, false);
  ASSERT_TRUE(eventually([&] { return v.shows(lit); })) << differing(v.picture(), lit) << " pixels differ";
  std::this_thread::sleep_for(300ms);  // let any update in flight land
  const ViewerLog before = v.log();
  const auto st_before = stream->stats();

  // The clock in the top-right corner ticks, drawn in place (no flip: the daemon's front-buffer
  // heuristic reports it within a dozen vblanks).
  guest::Canvas front = g.canvas(0);
  draw_clock(front, 60);
  const fb::Image ticked = daemon_picture(d.path, 1, false);
  ASSERT_GT(differing(ticked, lit), 0);
  ASSERT_TRUE(eventually([&] { return v.shows(ticked); })) << differing(v.picture(), ticked) << " pixels differ";
  std::this_thread::sleep_for(300ms);
  const ViewerLog after = v.log();
  const auto st_after = stream->stats();
  const uint64_t frame_pixels = 1024 * 768, pixels = after.pixels - before.pixels;
  const uint64_t bytes = st_after.bytes_sent - st_before.bytes_sent;
  fmt::print("clock tick: {} tiles, {} rectangles, {} pixels, {} bytes (a frame is {} pixels, {} bytes raw)\n",
             st_after.damaged_tiles - st_before.damaged_tiles, after.rects - before.rects, pixels, bytes, frame_pixels,
             frame_pixels * 4);
  EXPECT_GT(pixels, 0u);
  EXPECT_LT(pixels * 100, frame_pixels);  // under 1 % of the frame
  EXPECT_LT(bytes * 100, frame_pixels * 4);
  EXPECT_EQ(after.full_rects, before.full_rects);

  // A flip to a wholly different picture: one rectangle, the whole frame.
  g.flip([](guest::Canvas& c) { c.vgradient(0, 0, int32_t(c.width()), int32_t(c.height()), 0xFF400000, 0xFF004080); });
  const fb::Image flipped = daemon_picture(d.path, 1, false);
  ASSERT_TRUE(eventually([&] { return v.shows(flipped); })) << differing(v.picture(), flipped) << " pixels differ";
  const ViewerLog flip = v.log();
  fmt::print("full flip: {} rectangles, {} pixels, {} bytes\n", flip.rects - after.rects, flip.pixels - after.pixels,
             stream->stats().bytes_sent - st_after.bytes_sent);
  EXPECT_EQ(flip.full_rects, after.full_rects + 1);
  EXPECT_EQ(flip.rects, after.rects + 1);
}

TEST_F(VncStreamTest, ACursorMoveIsAPositionUpdateWithoutPixels) {
  ASSERT_NO_FATAL_FAILURE(start_viewing("vnc-cursor"));
  d.host->stop_guests();
  const fb::Image frozen = daemon_picture(d.path, 1, false);
  ASSERT_TRUE(eventually([&] { return v.shows(frozen); }));
  ASSERT_TRUE(eventually([&] { return v.log().cursor_shapes >= 1; }));
  std::this_thread::sleep_for(300ms);
  const ViewerLog before = v.log();
  const auto st_before = stream->stats();
  // CURPOS is the image's top-left: the pointer the viewer hears about is that + the hotspot.
  auto& display = d.host->find(1)->session().guest().display();
  ASSERT_EQ(display.move_cursor(hw::Pipe::A, 300, 200), guest::Error::None);
  EXPECT_TRUE(eventually([&] {
    const ViewerLog l = v.log();
    return l.cursor_x == 300 + int(guest::DesktopWorkload::kHotX) && l.cursor_y == 200 + int(guest::DesktopWorkload::kHotY);
  })) << "pointer at " << v.log().cursor_x << "," << v.log().cursor_y;
  ASSERT_EQ(display.move_cursor(hw::Pipe::A, 310, 205), guest::Error::None);
  EXPECT_TRUE(eventually([&] { return v.log().cursor_x == 311 && v.log().cursor_y == 206; }));
  std::this_thread::sleep_for(200ms);
  const ViewerLog after = v.log();
  EXPECT_GE(after.cursor_moves, before.cursor_moves + 2);
  EXPECT_EQ(after.rects, before.rects) << "a cursor move re-sent pixels";
  EXPECT_EQ(after.cursor_shapes, before.cursor_shapes) << "the shape did not change";
  const auto st = stream->stats();
  EXPECT_GE(st.cursor_moves, st_before.cursor_moves + 2);
  EXPECT_EQ(st.damaged_tiles, st_before.damaged_tiles);
}

TEST_F(VncStreamTest, AModeChangeIsADesktopResize) {
  ASSERT_NO_FATAL_FAILURE(start_viewing("vnc-resize"));
  ASSERT_TRUE(eventually([&] { return v.picture().width == 1024; }));
  d.host->stop_guests();
  d.host->find(1)->session().stop();
  HandGuest g(*d.host, 1);
  g.light(guest::kMode1920x1080at60, [](guest::Canvas& c) { guest::DesktopWorkload::render_scene(c, 0); });
  const fb::Image big = daemon_picture(d.path, 1, false);
  ASSERT_EQ(big.width, 1920u);
  EXPECT_TRUE(eventually([&] { return v.shows(big); })) << differing(v.picture(), big) << " pixels differ";
  EXPECT_GE(v.log().resizes, 2u);  // the first size, then the new one
  const auto st = stream->stats();
  EXPECT_EQ(st.width, 1920u);
  EXPECT_EQ(st.height, 1080u);
  EXPECT_GE(st.resizes, 1u);
}

TEST_F(VncStreamTest, ADisplayThatGoesOffShowsDisplayOff) {
  ASSERT_NO_FATAL_FAILURE(start_viewing("vnc-off"));
  ASSERT_TRUE(eventually([&] { return stream->stats().frames > 0 && v.log().cursor_shapes > 0; }));
  d.host->stop_guests();
  const fb::Image frozen = daemon_picture(d.path, 1, false);
  ASSERT_TRUE(eventually([&] { return v.shows(frozen); }));  // the stream has caught up
  std::this_thread::sleep_for(200ms);
  const uint64_t shapes = stream->stats().cursor_shapes;
  d.host->find(1)->session().stop();  // the guest disables its pipe
  const fb::Image want = viewers::render_display_off(1024, 768, "vGPU 1: the guest turned its display off");
  EXPECT_TRUE(eventually([&] { return v.shows(want); })) << differing(v.picture(), want) << " pixels differ";
  EXPECT_TRUE(stream->stats().display_off);
  // The cursor is taken away (an empty cursor shape: libvncclient reports none of those).
  EXPECT_TRUE(eventually([&] { return stream->stats().cursor_shapes == shapes + 1; }))
      << stream->stats().cursor_shapes - shapes << " shape changes";
}

// The fast viewers keep getting the live desktop while one client asks for updates and never
// reads them.
void VncStreamTest::fast_viewers_stay_live(bool slow_takes_cursor) {
  ASSERT_NO_FATAL_FAILURE(start(slow_takes_cursor ? "vnc-slow-cursor" : "vnc-slow-raw"));
  Viewer a, b;
  ASSERT_TRUE(a.connect(stream->port()));
  ASSERT_TRUE(b.connect(stream->port()));
  UniqueFd slow = raw_rfb(stream->port(), 4096);
  ASSERT_TRUE(slow);
  // SetEncodings: raw, and with the cursor pseudo-encodings when asked.
  std::vector<uint8_t> enc = {2, 0, 0, uint8_t(slow_takes_cursor ? 3 : 1), 0, 0, 0, 0};
  if (slow_takes_cursor)
    for (uint8_t e : {0x11, 0x18}) enc.insert(enc.end(), {0xFF, 0xFF, 0xFF, e});  // RichCursor, PointerPos
  ASSERT_EQ(::send(slow.get(), enc.data(), enc.size(), MSG_NOSIGNAL), ssize_t(enc.size()));
  // Whole-screen requests, many: the server has far more to send than the socket takes.
  const uint8_t req[10] = {3, 0, 0, 0, 0, 0, 0x04, 0x00, 0x03, 0x00};
  for (int i = 0; i < 200; ++i) ASSERT_EQ(::send(slow.get(), req, sizeof req, MSG_NOSIGNAL), 10);
  ASSERT_TRUE(eventually([&] { return stream->stats().clients == 3; }));
  std::this_thread::sleep_for(1s);  // the slow one's socket is full by now
  if (!slow_takes_cursor) {
    // libvncserver draws the cursor into the shared picture for it, so the others' updates
    // wait for its sends: it is cut off once it has held them back too long.
    EXPECT_TRUE(eventually([&] { return stream->stats().clients == 2; }, 15s)) << "the slow client is still there";
  }
  const ViewerLog a0 = a.log(), b0 = b.log();
  EXPECT_TRUE(eventually([&] { return a.log().updates >= a0.updates + 20 && b.log().updates >= b0.updates + 20; }))
      << "fast viewers got " << a.log().updates - a0.updates << " and " << b.log().updates - b0.updates << " updates";
  if (slow_takes_cursor) {
    EXPECT_EQ(stream->stats().clients, 3u);
  }
}

TEST_F(VncStreamTest, FastViewersStayLiveBesideASlowOne) { fast_viewers_stay_live(true); }
TEST_F(VncStreamTest, ASlowClientWithoutCursorShapesIsCutOffNotWaitedFor) { fast_viewers_stay_live(false); }

TEST_F(VncStreamTest, AWrongPasswordIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start("vnc-password", "s3cret"));
  Viewer wrong;
  EXPECT_FALSE(wrong.connect(stream->port(), {.password = "guess"}));
  Viewer right;
  ASSERT_TRUE(right.connect(stream->port(), {.password = "s3cret"}));
  EXPECT_TRUE(eventually([&] { return right.log().updates > 0; }));
}

TEST_F(VncStreamTest, WithAPasswordNoClientGetsInWithoutIt) {
  ASSERT_NO_FATAL_FAILURE(start("vnc-no-password"));
  EXPECT_EQ(offered_security(stream->port()), std::vector<uint8_t>{2}) << "VNC authentication only, never None";
  EXPECT_FALSE(raw_rfb(stream->port(), 0, "")) << "asking for no security";
  Viewer none;
  EXPECT_FALSE(none.connect(stream->port(), {.password = ""}));
  EXPECT_TRUE(eventually([&] { return stream->stats().clients == 0; })) << "every refused client is gone";
}

TEST_F(VncStreamTest, WithoutAPasswordAnyoneSees) {
  ASSERT_NO_FATAL_FAILURE(start("vnc-auth-none", ""));  // [vnc] auth = "none"
  EXPECT_EQ(offered_security(stream->port()), std::vector<uint8_t>{1});
  Viewer anyone;
  ASSERT_TRUE(anyone.connect(stream->port(), {.password = ""}));
  EXPECT_TRUE(eventually([&] { return anyone.log().updates > 0; }));
}

TEST_F(VncStreamTest, GarbageLosesOnlyItsOwnConnection) {
  ASSERT_NO_FATAL_FAILURE(start_viewing("vnc-garbage"));
  for (int round = 0; round < 3; ++round) {
    UniqueFd bad = raw_rfb(stream->port());
    ASSERT_TRUE(bad);
    const uint8_t junk[64] = {0xFE, 0x7F, 0x42};
    (void)!::send(bad.get(), junk, sizeof junk, MSG_NOSIGNAL);
    // The server hangs up on it: reads end (after whatever it had sent).
    timeval tv{5, 0};
    ::setsockopt(bad.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t r;
    while ((r = ::recv(bad.get(), buf, sizeof buf, 0)) > 0) {
    }
    // Closed: an orderly end, or a reset when our junk was still unread on the server's side.
    EXPECT_TRUE(r == 0 || (r < 0 && errno == ECONNRESET)) << "the connection was not closed: " << std::strerror(errno);
  }
  EXPECT_TRUE(eventually([&] { return stream->stats().clients == 1; }));
  const uint64_t seen = v.log().updates;
  EXPECT_TRUE(eventually([&] { return v.log().updates > seen + 5; })) << "the good viewer stopped getting updates";
  EXPECT_FALSE(v.closed());
}

TEST_F(VncStreamTest, StopsPromptlyAfterTheDaemonsLoopEnded) {
  ASSERT_NO_FATAL_FAILURE(start_viewing("vnc-stop"));
  ASSERT_TRUE(eventually([&] { return stream->stats().frames > 0; }));
  // As in vgpud: the server's loop returns, the streams go, then the guests stop.
  d.srv->request_stop();
  d.loop.join();
  const auto t0 = std::chrono::steady_clock::now();
  stream.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(eventually([&] { return v.closed(); }, 2s));
}

}  // namespace
}  // namespace vgd::test
