// An independent VNC client against VncStream: gtk-vnc's gvnccapture takes one frame headless.
// gtk-vnc is what virt-viewer, remote-viewer and GNOME Connections show a VNC desktop with.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <utility>
#include <filesystem>

#include "daemon_support.h"
#include "reference_pictures.h"
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

// A free VNC display number (gvnccapture takes host:display only: port 5900 + display).
int free_display() {
  int display = 50;
  while (display < 100 && !port_free(5900 + display)) ++display;
  return display;
}

// Runs `cmd` on a terminal of its own and types `password` at its "Password: " prompt, once it
// has turned the terminal's echo off (gvnccapture reads the VNC password from its terminal, and
// fails without one; typed before, the input would be flushed). Its exit status and output.
// (`timeout` must run it with --foreground: in a background process group of its terminal, it
// would be stopped as it turns echo off.)
std::pair<int, std::string> run_typing_password(const std::string& cmd, const std::string& password) {
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) return {-1, "forkpty failed"};
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const UniqueFd m(master);
  // The program's side of the terminal, for its settings (the master side has its own). Held
  // open, it keeps the master readable after the program ended: its exit is watched instead.
  const UniqueFd slave(::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC));
  std::string out;
  bool typed = false;
  int status = 0;
  for (;;) {  // `timeout` in cmd bounds it
    pollfd p{m.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char b[256];
      const ssize_t n = ::read(m.get(), b, sizeof b);
      if (n > 0) out.append(b, static_cast<size_t>(n));
    }
    termios t{};
    if (!typed && out.find("Password: ") != std::string::npos && ::tcgetattr(slave.get(), &t) == 0 && !(t.c_lflag & ECHO)) {
      const std::string line = password + "\n";
      typed = ::write(m.get(), line.data(), line.size()) == static_cast<ssize_t>(line.size());
    }
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// One frame through gvnccapture, as the PNG it writes (RGBA: gtk-vnc's picture has alpha),
// logged in with `password`.
Expected<fb::Image, std::string> gvnccapture(int display, const std::string& password = kVncPassword) {
  const std::string out = fmt::format("{}/vnc-gvnc-{}-{}.png", ::testing::TempDir(), ::getpid(), display);
  const std::string cmd = fmt::format("timeout --foreground 30 gvnccapture -q 127.0.0.1:{} {}", display, out);
  const auto [rc, said] = run_typing_password(cmd, password);
  if (rc != 0) return Unexpected(fmt::format("'{}' failed ({}): {}", cmd, rc, said));
  auto got = fb::read_png(out);
  std::filesystem::remove(out);
  return got;
}

// Pixels of a capture that are not opaque. gtk-vnc fills a ZRLE tile of one colour by copying
// the server's pixel as is when the server's format equals its picture's: with libvncserver's
// default format (red in the low byte, like gtk-vnc's RGBA) every such tile came out with alpha
// 0, i.e. transparent, and shows white (docs/viewers.md, "Pixel format").
int64_t transparent(const fb::Image& img) {
  return std::count_if(img.px.begin(), img.px.end(), [](uint32_t p) { return (p >> 24) != 0xFF; });
}

struct Capture {
  RunningDaemon d;
  int display = free_display();
  std::unique_ptr<viewers::VncStream> stream;

  void start(const char* name) {
    ASSERT_LT(display, 100) << "no free VNC display between :50 and :99";
    DaemonConfig cfg;
    cfg.vgpus = {VgpuSpec{}};
    d.start(cfg, name);
    viewers::VncOptions o = vnc_options(d.path);
    o.port = 5900 + display;
    auto started = viewers::VncStream::start(o);
    ASSERT_TRUE(started.has_value()) << started.error();
    stream = std::move(*started);
    // Past frame 30 the desktop's pointer is well inside the screen.
    ASSERT_TRUE(eventually([&] { return frames() > 30; }));
  }
  uint32_t frames() { return d.host->find(1)->session().frames(); }
};

// Every colour channel within one step (alpha ignored).
bool within_one_step(uint32_t a, uint32_t b) {
  for (int shift : {0, 8, 16})
    if (std::abs(int(a >> shift & 255) - int(b >> shift & 255)) > 1) return false;
  return true;
}

// Why `got` is not, pixel for pixel, one of the desktop's frames first..last (each pixel from
// any of them: an update can straddle a flip; the cursor's translucent shadow within one step,
// libvncserver's blend truncates, ours rounds); "" when it is.
std::string unmatched_pixels(const fb::Image& got, uint32_t first, uint32_t last) {
  std::vector<bool> unmatched(got.px.size(), true);
  for (uint32_t n = first; n <= last; ++n) {
    const fb::Image f = reference(Workload::Desktop, n, got.width, got.height);
    for (size_t i = 0; i < got.px.size(); ++i)
      if (unmatched[i] && within_one_step(got.px[i], f.px[i])) unmatched[i] = false;
  }
  const auto wrong = std::find(unmatched.begin(), unmatched.end(), true);
  if (wrong == unmatched.end()) return "";
  const size_t i = size_t(wrong - unmatched.begin());
  return fmt::format("{} pixels shown in none of frames {}..{} (first at {},{}: {:06x})",
                     std::count(wrong, unmatched.end(), true), first, last, i % got.width, i / got.width,
                     got.px[i] & 0xFFFFFFu);
}

bool skip_without_gvnccapture() { return std::system("command -v gvnccapture >/dev/null 2>&1") != 0; }

TEST(VncRealClient, GvnccaptureSeesTheComposedFrameWithTheCursor) {
  if (skip_without_gvnccapture()) GTEST_SKIP() << "gvnccapture is not installed (Debian package gvncviewer)";
  Capture c;
  c.start("vnc-gvnc");
  RunningDaemon& d = c.d;
  d.host->stop_guests();  // a still picture to capture
  const fb::Image with_cursor = daemon_picture(d.path, 1, true);
  const fb::Image without = daemon_picture(d.path, 1, false);
  ASSERT_GT(differing(with_cursor, without), 0) << "the cursor is not on screen";
  std::this_thread::sleep_for(500ms);  // the stream has shown the frozen picture

  EXPECT_FALSE(gvnccapture(c.display, "wrong").has_value()) << "a wrong password gets no picture";
  auto got = gvnccapture(c.display);
  ASSERT_TRUE(got.has_value()) << got.error();
  EXPECT_EQ(transparent(*got), 0) << "pixels of the capture are transparent (they show white)";
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

// A live desktop, captured while it changes: every pixel is opaque and is what the guest showed
// in one of the frames around the capture (an update can straddle a flip), the cursor's
// translucent shadow within one step (libvncserver's blend truncates, ours rounds).
TEST(VncRealClient, GvnccaptureOfALiveDesktopIsExactEverywhere) {
  if (skip_without_gvnccapture()) GTEST_SKIP() << "gvnccapture is not installed (Debian package gvncviewer)";
  Capture c;
  c.start("vnc-gvnc-live");
  // Three captures that each show the guest's frames exactly; a capture may come before the
  // stream's first picture of the desktop (a slow build: it shows "display off" until then), so
  // each is tried again for up to 30 s. Every capture, whatever it shows, must be opaque.
  for (int round = 0; round < 3; ++round) {
    std::string why = "no capture";
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!why.empty() && std::chrono::steady_clock::now() < until) {
      const uint32_t before = c.frames();
      auto got = gvnccapture(c.display);
      const uint32_t after = c.frames();
      ASSERT_TRUE(got.has_value()) << got.error();
      ASSERT_EQ(got->width, 1024u);
      ASSERT_EQ(got->height, 768u);
      ASSERT_EQ(transparent(*got), 0) << "pixels of the live capture are transparent (they show white)";
      why = unmatched_pixels(*got, before > 60 ? before - 60 : 0, after + 3);
    }
    EXPECT_EQ(why, "") << "round " << round;
  }
}

}  // namespace
}  // namespace vgd::test
