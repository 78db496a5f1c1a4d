// An independent VNC client against VncStream: gtk-vnc's gvnccapture takes one frame headless.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "daemon_support.h"
#include "fb/png.h"
#include "vnc_support.h"
#include "viewers/vnc_stream.h"

namespace vgd::test {
namespace {

bool port_free(int port) {
  UniqueFd s4(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), s6(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons(uint16_t(port));
  a6.sin6_addr = in6addr_loopback;
  return ::bind(s4.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
         (!s6 || ::bind(s6.get(), reinterpret_cast<sockaddr*>(&a6), sizeof a6) == 0);
}

TEST(VncRealClient, GvnccaptureSeesTheComposedFrameWithTheCursor) {
  if (std::system("command -v gvnccapture >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "gvnccapture is not installed (Debian package gvncviewer)";
  // gvnccapture takes host:display only: port 5900 + display.
  int display = 50;
  while (display < 100 && !port_free(5900 + display)) ++display;
  ASSERT_LT(display, 100) << "no free VNC display between :50 and :99";

  RunningDaemon d;
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};
  d.start(cfg, "vnc-gvnc");
  viewers::VncOptions o;
  o.socket_path = d.path;
  o.port = 5900 + display;
  auto stream = viewers::VncStream::start(o);
  ASSERT_TRUE(stream.has_value()) << stream.error();
  // Past frame 10 the desktop's pointer is well inside the screen.
  ASSERT_TRUE(eventually([&] { return d.host->find(1)->session().frames() > 30; }));
  d.host->stop_guests();  // a still picture to capture
  const fb::Image with_cursor = daemon_picture(d.path, 1, true);
  const fb::Image without = daemon_picture(d.path, 1, false);
  ASSERT_GT(differing(with_cursor, without), 0) << "the cursor is not on screen";
  std::this_thread::sleep_for(500ms);  // the stream has shown the frozen picture

  const std::string out = fmt::format("{}/vnc-gvnc-{}.png", ::testing::TempDir(), ::getpid());
  const std::string cmd = fmt::format("timeout 30 gvnccapture -q 127.0.0.1:{} {} 2>&1", display, out);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto got = fb::read_png(out);
  ASSERT_TRUE(got.has_value()) << got.error();
  std::filesystem::remove(out);
  // gvnccapture announces no cursor pseudo-encoding, so libvncserver draws the cursor into what
  // it sends: the capture shows the frame with the cursor composed in. Only the cursor's
  // translucent shadow may differ, by one step: libvncserver's blend truncates, ours rounds.
  ASSERT_EQ(got->width, with_cursor.width);
  ASSERT_EQ(got->height, with_cursor.height);
  int64_t inexact = 0;
  int worst = 0;
  for (size_t i = 0; i < got->px.size(); ++i) {
    const uint32_t g = got->px[i], w = with_cursor.px[i];
    if ((g & 0xFFFFFFu) == (w & 0xFFFFFFu)) continue;
    ++inexact;
    for (int shift : {0, 8, 16}) worst = std::max(worst, std::abs(int(g >> shift & 255) - int(w >> shift & 255)));
  }
  fmt::print("gvnccapture: {} pixels off by at most {} from the frame with the cursor; {} differ from it without\n",
             inexact, worst, differing(*got, without));
  EXPECT_LE(worst, 1);
  EXPECT_LT(inexact, int64_t{guest::DesktopWorkload::kCursorSize} * guest::DesktopWorkload::kCursorSize);
  EXPECT_GT(differing(*got, without), inexact) << "the cursor is missing from the capture";
}

}  // namespace
}  // namespace vgd::test
