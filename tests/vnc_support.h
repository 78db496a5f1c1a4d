// For the VNC tests: an in-process RFB client (libvncclient on its own thread, raw pixels so
// they compare exactly), a guest the test drives itself on a daemon whose guests were stopped,
// and the daemon's own picture composed through libvgd-client.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "fb/image.h"
#include "guest/canvas.h"
#include "guest/display.h"
#include "guest/workloads.h"
#include "server/host.h"
#include "sim/inprocess.h"
#include "util/unique_fd.h"
#include "viewers/frame_grab.h"
#include "viewers/vnc_stream.h"

#include <rfb/rfbclient.h>

namespace vgd::test {

using namespace std::chrono_literals;

// Polls `pred` every 10 ms for up to `limit`: a bound that catches hangs, generous because a
// loaded CI machine (two CPUs, a VM booting beside) has taken more than 10 s for a first update.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 30s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// What a libvncclient viewer saw, updated on its thread.
struct ViewerLog {
  uint64_t updates = 0;         // FramebufferUpdate messages finished
  uint64_t rects = 0;           // pixel rectangles in them
  uint64_t pixels = 0;          // pixels those rectangles carried
  uint64_t full_rects = 0;      // rectangles covering the whole framebuffer
  uint64_t cursor_shapes = 0;
  uint64_t cursor_moves = 0;
  int cursor_x = -1, cursor_y = -1;
  int hot_x = -1, hot_y = -1, cursor_w = 0, cursor_h = 0;
  uint64_t resizes = 0;
};

// What the tests' VNC servers ask for (vgpud always asks for one unless told not to:
// docs/viewers.md, "Access").
inline constexpr const char* kVncPassword = "t3st-vnc";

// VNC authentication's answer to `challenge` (16 bytes) for `password` (libvncclient's DES).
extern "C" void rfbClientEncryptBytes(unsigned char* bytes, char* passwd);
inline std::vector<uint8_t> vnc_auth_response(const std::vector<uint8_t>& challenge, const std::string& password) {
  std::vector<uint8_t> r = challenge;
  std::string pw = password;
  rfbClientEncryptBytes(r.data(), pw.data());
  return r;
}

struct ViewerOptions {
  std::string password = kVncPassword;
  bool cursor = true;  // announce cursor shape and position pseudo-encodings
};

inline void quiet(const char*, ...) {}  // libvncclient's chatter

class Viewer {
 public:
  ~Viewer() { disconnect(); }

  // Connects and starts reading; false (and why()) when the handshake failed.
  bool connect(int port, const ViewerOptions& o = ViewerOptions{}) {
    rfbClientLog = rfbClientErr = quiet;
    cl_ = rfbGetClient(8, 3, 4);
    // 0x00RRGGBB in host order: the same numbers as fb::Image without its alpha.
    cl_->format.redShift = 16;
    cl_->format.greenShift = 8;
    cl_->format.blueShift = 0;
    cl_->appData.encodingsString = "raw";
    cl_->appData.useRemoteCursor = o.cursor ? TRUE : FALSE;
    cl_->canHandleNewFBSize = TRUE;
    std::free(cl_->serverHost);  // rfbGetClient set an empty one
    cl_->serverHost = strdup("127.0.0.1");
    cl_->serverPort = port;
    password_ = o.password;
    rfbClientSetClientData(cl_, &kTag, this);
    // libvncclient frees what this returns, except an empty string, which it refuses and
    // leaks; no password is therefore nullptr.
    cl_->GetPassword = [](rfbClient* c) -> char* {
      const std::string& p = self(c)->password_;
      return p.empty() ? nullptr : strdup(p.c_str());
    };
    malloc_fb_ = cl_->MallocFrameBuffer;
    cl_->MallocFrameBuffer = [](rfbClient* c) {
      Viewer* v = self(c);
      const std::lock_guard lk(v->mu_);
      ++v->log_.resizes;
      return v->malloc_fb_(c);
    };
    cl_->GotFrameBufferUpdate = [](rfbClient* c, int x, int y, int w, int h) {
      Viewer* v = self(c);
      const std::lock_guard lk(v->mu_);
      ++v->log_.rects;
      v->log_.pixels += uint64_t(w) * uint64_t(h);
      if (x == 0 && y == 0 && w == c->width && h == c->height) ++v->log_.full_rects;
    };
    cl_->FinishedFrameBufferUpdate = [](rfbClient* c) {
      Viewer* v = self(c);
      const std::lock_guard lk(v->mu_);
      ++v->log_.updates;
    };
    cl_->GotCursorShape = [](rfbClient* c, int xhot, int yhot, int w, int h, int) {
      Viewer* v = self(c);
      const std::lock_guard lk(v->mu_);
      ++v->log_.cursor_shapes;
      v->log_.hot_x = xhot, v->log_.hot_y = yhot, v->log_.cursor_w = w, v->log_.cursor_h = h;
      // libvncclient mallocs a new mask for every shape without freeing the last: ours to free.
      std::free(c->rcMask);
      c->rcMask = nullptr;
    };
    cl_->HandleCursorPos = [](rfbClient* c, int x, int y) -> rfbBool {
      Viewer* v = self(c);
      const std::lock_guard lk(v->mu_);
      ++v->log_.cursor_moves;
      v->log_.cursor_x = x, v->log_.cursor_y = y;
      return TRUE;
    };
    if (!rfbInitClient(cl_, nullptr, nullptr)) {
      cl_ = nullptr;  // rfbInitClient freed it
      return false;
    }
    thread_ = std::thread([this] {
      while (!stop_) {
        const int n = WaitForMessage(cl_, 20000);
        if (n < 0) break;
        if (n == 0) continue;
        const std::lock_guard lk(fb_mu_);
        if (!HandleRFBServerMessage(cl_)) break;
      }
      closed_ = true;
    });
    return true;
  }
  void disconnect() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (cl_) {
      std::free(cl_->frameBuffer);
      std::free(cl_->rcSource);
      std::free(cl_->rcMask);
      rfbClientCleanup(cl_);
      cl_ = nullptr;
    }
  }
  bool closed() const { return closed_; }
  ViewerLog log() const {
    const std::lock_guard lk(mu_);
    return log_;
  }
  // The framebuffer as fb::Image (opaque).
  fb::Image picture() const {
    const std::lock_guard lk(fb_mu_);
    fb::Image img;
    img.width = uint32_t(cl_->width);
    img.height = uint32_t(cl_->height);
    img.px.resize(size_t(img.width) * img.height);
    const auto* p = reinterpret_cast<const uint32_t*>(cl_->frameBuffer);
    for (size_t i = 0; i < img.px.size(); ++i) img.px[i] = 0xFF000000u | (p[i] & 0xFFFFFFu);
    return img;
  }
  bool shows(const fb::Image& want) const {
    const fb::Image got = picture();
    if (got.width != want.width || got.height != want.height) return false;
    for (size_t i = 0; i < got.px.size(); ++i)
      if ((got.px[i] & 0xFFFFFFu) != (want.px[i] & 0xFFFFFFu)) return false;
    return true;
  }

 private:
  static inline int kTag = 0;
  static Viewer* self(rfbClient* c) { return static_cast<Viewer*>(rfbClientGetClientData(c, &kTag)); }

  rfbClient* cl_ = nullptr;
  MallocFrameBufferProc malloc_fb_ = nullptr;
  std::string password_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, closed_{false};
  mutable std::mutex mu_, fb_mu_;
  ViewerLog log_;
};

// Pixels that differ between two pictures of one size (alpha ignored); -1 when sizes differ.
inline int64_t differing(const fb::Image& a, const fb::Image& b) {
  if (a.width != b.width || a.height != b.height) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < a.px.size(); ++i) n += (a.px[i] & 0xFFFFFFu) != (b.px[i] & 0xFFFFFFu);
  return n;
}

// What vgpud shows for vGPU `id`, composed from its planes through a libvgd-client session of
// our own (with or without the cursor plane).
inline fb::Image daemon_picture(const std::string& socket, uint32_t id, bool with_cursor) {
  auto conn = client::Connection::connect(socket, "test-snapshot");
  EXPECT_TRUE(conn.has_value());
  if (!conn) return {};
  auto vgpu = conn->open(id);
  EXPECT_TRUE(vgpu.has_value());
  if (!vgpu) return {};
  auto frame = viewers::query_planes(*vgpu);
  EXPECT_TRUE(frame.has_value());
  if (!frame || !viewers::map_buffers(*vgpu, *frame)) return {};
  auto img = with_cursor ? viewers::compose_frame(*frame) : viewers::compose_screen(*frame);
  EXPECT_TRUE(img.has_value()) << img.error();
  return img ? std::move(*img) : fb::Image{};
}

// The vGPU itself, for a guest that takes its lock at every access (InProcessMmio).
inline Vgpu& vgpu_of(server::Host& host, uint32_t id) NO_THREAD_SAFETY_ANALYSIS { return host.find(id)->vgpu(); }

// A guest the test drives by hand on vGPU `id` of a daemon whose own guests were stopped: its
// waits sleep (the daemon's vblank thread keeps the vblanks coming).
class HandGuest {
 public:
  HandGuest(server::Host& host, uint32_t id)
      : guest_(vgpu_of(host, id), host.gpu().geometry(), &idle_, &host.find(id)->lock()) {}
  // Probe, balloon, display ready; then a linear XRGB surface of the mode's size drawn with
  // `draw` and lit with the mode.
  void light(const guest::Mode& mode, const std::function<void(guest::Canvas&)>& draw) {
    guest::Driver& drv = guest_.driver();
    ASSERT_EQ(drv.probe(), guest::Error::None);
    ASSERT_EQ(drv.balloon(), guest::Error::None);
    ASSERT_EQ(drv.set_display_ready(true), guest::Error::None);
    for (auto& s : surface_)
      ASSERT_EQ(guest_.display().create_surface(mode.width, mode.height, guest::PixelFormat::Xrgb8888,
                                                hw::Tiling::Linear, s),
                guest::Error::None);
    guest::Canvas c = canvas(0);
    draw(c);
    ASSERT_EQ(guest_.display().modeset(hw::Pipe::A, mode, surface_[0]), guest::Error::None);
  }
  guest::Canvas canvas(int i) { return guest::Canvas(guest_.driver().ram(), surface_[i]); }
  // Draws the other surface and flips to it.
  void flip(const std::function<void(guest::Canvas&)>& draw) {
    shown_ ^= 1;
    guest::Canvas c = canvas(shown_);
    draw(c);
    ASSERT_EQ(guest_.display().flip(hw::Pipe::A, hw::Plane::Primary, surface_[shown_]), guest::Error::None);
  }
  int shown() const { return shown_; }
  guest::Display& display() { return guest_.display(); }

 private:
  struct SleepIdle final : guest::IdlePort {
    void idle() override { std::this_thread::sleep_for(2ms); }
  };
  SleepIdle idle_;
  InProcessGuest guest_;
  guest::Surface surface_[2]{};
  int shown_ = 0;
};

// A raw RFB connection for misbehaving clients: version, VNC authentication with `password`
// (no security when the server offers it and password is empty), shared ClientInit. Leaves the
// server's ServerInit unread unless read_init.
inline UniqueFd raw_rfb(int port, int rcvbuf = 0, const std::string& password = kVncPassword) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (rcvbuf) ::setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {};
  auto read_n = [&](size_t n) {
    std::vector<uint8_t> b(n);
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::recv(s.get(), b.data() + got, n - got, 0);
      if (r <= 0) return std::vector<uint8_t>{};
      got += size_t(r);
    }
    return b;
  };
  if (read_n(12).empty()) return {};
  (void)!::send(s.get(), "RFB 003.008\n", 12, MSG_NOSIGNAL);
  auto count = read_n(1);
  if (count.empty() || count[0] == 0) return {};
  const auto types = read_n(count[0]);
  const uint8_t type = password.empty() ? 1 : 2;
  if (std::find(types.begin(), types.end(), type) == types.end()) return {};
  (void)!::send(s.get(), &type, 1, MSG_NOSIGNAL);
  if (type == 2) {
    const auto challenge = read_n(16);
    if (challenge.empty()) return {};
    const auto answer = vnc_auth_response(challenge, password);
    (void)!::send(s.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
  }
  const auto result = read_n(4);  // SecurityResult
  if (result != std::vector<uint8_t>(4, 0)) return {};
  const uint8_t shared = 1;
  (void)!::send(s.get(), &shared, 1, MSG_NOSIGNAL);
  auto init = read_n(24);
  if (init.empty()) return {};
  const uint32_t name_len = (uint32_t(init[20]) << 24) | (uint32_t(init[21]) << 16) | (uint32_t(init[22]) << 8) | init[23];
  if (read_n(name_len).empty() && name_len) return {};
  return s;
}

// The security types a VNC server offers (RFB 3.8), or nothing when the handshake failed.
inline std::vector<uint8_t> offered_security(int port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{30, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {};
  char version[12];
  if (::recv(s.get(), version, sizeof version, MSG_WAITALL) != 12) return {};
  (void)!::send(s.get(), "RFB 003.008\n", 12, MSG_NOSIGNAL);
  uint8_t n = 0;
  if (::recv(s.get(), &n, 1, MSG_WAITALL) != 1 || n == 0) return {};
  std::vector<uint8_t> types(n);
  if (::recv(s.get(), types.data(), n, MSG_WAITALL) != n) return {};
  return types;
}

// Options for a VNC stream of the daemon at `socket` on a free port, with the tests' password.
inline viewers::VncOptions vnc_options(const std::string& socket) {
  viewers::VncOptions o;
  o.socket_path = socket;
  o.port = 0;
  o.password = kVncPassword;
  return o;
}

// A VNC stream of the daemon at `socket`, on a port the kernel picks, with `viewer` connected
// to it. Declare the viewer after the stream, so it disconnects first.
inline void stream_to(const std::string& socket, std::unique_ptr<viewers::VncStream>& stream, Viewer& viewer) {
  auto s = viewers::VncStream::start(vnc_options(socket));
  ASSERT_TRUE(s.has_value()) << s.error();
  stream = std::move(*s);
  ASSERT_TRUE(viewer.connect(stream->port()));
}

}  // namespace vgd::test
