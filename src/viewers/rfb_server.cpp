#include "viewers/rfb_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <mutex>

#include "util/unique_fd.h"
#include "viewers/rfb_cursor.h"

#include <rfb/rfb.h>  // last: its C macros (TRUE, LOCK, ...) stay out of the headers above
extern "C" {
#include <rfb/rfbregion.h>  // declared without C linkage of its own
}

namespace vgd::viewers {
namespace {

// The format the framebuffer holds: XRGB8888 (red in bits 16–23, blue in 0–7), fb::Image's own
// order and QEMU's VNC server's (docs/viewers.md, "Pixel format"). libvncserver's default for
// 8 bits × 3 samples puts red in bits 0–7 and announces depth 32:
//  * gtk-vnc clients whose local format matches the announced one exactly (gvnccapture's RGBA
//    pixbuf matches red-at-0) fill ZRLE's solid tiles by copying the 3-byte CPIXEL as is, with
//    an alpha of 0: those tiles come out transparent (white in most image viewers). With red at
//    16 they convert every pixel and set alpha.
//  * depth 32 with 3-byte CPIXELs breaks the spec (3 bytes only for depth <= 24): announce 24.
void set_server_format(rfbScreenInfoPtr s) {
  s->serverFormat.depth = 24;
  s->depth = 24;
  s->serverFormat.redShift = 16;
  s->serverFormat.greenShift = 8;
  s->serverFormat.blueShift = 0;
}
// rfbNewFramebuffer resets the server format to the default, then calls this for each client
// while it still holds every client's send lock: putting ours back here, not only after it
// returns, leaves no moment in which a client reads the new framebuffer in the default format.
rfbBool translate_from_our_format(rfbClientPtr cl) {
  set_server_format(cl->screen);
  return rfbSetTranslateFunction(cl);
}

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How long a client that cannot take data may hold the others back (see update()) before it is
// cut off, and how long a resize waits for an update in flight.
constexpr auto kHoldBackLimit = 2s;
constexpr auto kDrawerWait = 50ms;
constexpr auto kResizeWait = 2s;
constexpr auto kShutdownWait = 5s;  // for clients cut off at shutdown to leave
// libvncserver drops a client whose socket took nothing for this long (it checks every 5 s).
constexpr int kMaxClientWaitMs = 10000;

// libvncserver logs through two global printf-style hooks: into spdlog with them.
void log_to(spdlog::level::level_enum level, const char* format, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, format, ap);
  size_t n = std::strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
  spdlog::log(level, "libvncserver: {}", buf);
}
void log_info(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  log_to(spdlog::level::debug, format, ap);
  va_end(ap);
}
void log_error(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  log_to(spdlog::level::warn, format, ap);
  va_end(ap);
}

timespec deadline_in(std::chrono::milliseconds d) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const auto ns = ts.tv_nsec + std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  ts.tv_sec += static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  return ts;
}

}  // namespace

// The send locks of some clients, taken with a deadline each. An output thread holds its
// client's lock for a whole update (libvncserver's own rfbNewFramebuffer takes them all).
class RfbServer::ClientLocks {
 public:
  template <class Pick>
  ClientLocks(std::vector<rfbClientPtr> clients, Pick pick, std::chrono::milliseconds wait)
      : clients_(std::move(clients)) {
    for (rfbClientPtr cl : clients_) {
      if (!pick(cl)) continue;
      const timespec until = deadline_in(wait);
      if (::pthread_mutex_timedlock(&cl->sendMutex, &until) == 0) locked_.push_back(cl);
      else stuck_.push_back(cl);
    }
  }
  ~ClientLocks() {
    for (rfbClientPtr cl : locked_) ::pthread_mutex_unlock(&cl->sendMutex);
    release_clients(clients_);
  }
  ClientLocks(const ClientLocks&) = delete;
  ClientLocks& operator=(const ClientLocks&) = delete;
  bool ok() const { return stuck_.empty(); }
  const std::vector<rfbClientPtr>& stuck() const { return stuck_; }

 private:
  std::vector<rfbClientPtr> clients_, locked_, stuck_;
};

Expected<std::unique_ptr<RfbServer>, std::string> RfbServer::start(const RfbOptions& o, uint32_t width,
                                                                   uint32_t height, std::function<void()> on_client) {
  static std::once_flag logs;
  std::call_once(logs, [] {
    rfbLog = log_info;
    rfbErr = log_error;
  });
  std::unique_ptr<RfbServer> srv(new RfbServer());
  srv->on_client_ = std::move(on_client);
  srv->desktop_name_ = o.desktop_name.empty() ? "vgpu" : o.desktop_name;
  srv->password_ = o.password;
  if (o.port < 0 || o.port > 65535) return Unexpected(fmt::format("VNC port {} is out of range", o.port));
  in_addr_t iface = 0;
  std::string listen = o.listen;
  if (listen.empty() || !rfbStringToAddr(listen.data(), &iface))
    return Unexpected(fmt::format("VNC listen address '{}' is not an IPv4 address or host name", o.listen));

  rfbScreenInfoPtr s = rfbGetScreen(nullptr, nullptr, static_cast<int>(width), static_cast<int>(height), 8, 3, 4);
  if (!s) return Unexpected(std::string("rfbGetScreen failed"));
  srv->screen_ = s;  // from here on the destructor cleans up
  set_server_format(s);
  s->setTranslateFunction = translate_from_our_format;
  srv->fb_ = std::make_unique<uint32_t[]>(size_t{width} * height);
  srv->width_ = width;
  srv->height_ = height;
  s->frameBuffer = reinterpret_cast<char*>(srv->fb_.get());
  s->screenData = srv.get();
  s->desktopName = srv->desktop_name_.c_str();
  s->alwaysShared = TRUE;       // a second viewer joins instead of taking over the screen
  s->cursor = nullptr;          // else libvncserver draws its default X cursor into the picture
  s->ptrAddEvent = [](int, int, int, rfbClientPtr) {};  // a view: viewers' pointers move nothing
  s->newClientHook = [](rfbClientPtr cl) { return static_cast<rfbNewClientAction>(new_client(cl)); };
  s->maxClientWait = kMaxClientWaitMs;
  s->displayFinishedHook = [](rfbClientPtr cl, int) { count_sent(cl); };
  if (!o.password.empty()) {
    if (o.password.size() > 8) spdlog::warn("VNC authentication uses only the first 8 characters of the password");
    srv->passwords_ = std::make_unique<char*[]>(2);
    srv->passwords_[0] = srv->password_.data();
    srv->passwords_[1] = nullptr;
    s->authPasswdData = srv->passwords_.get();
    s->passwordCheck = rfbCheckPasswordByList;
    s->authPasswdFirstViewOnly = 1;  // the only password has full access (there is no input anyway)
  }

  // Listen ourselves (libvncserver listens nowhere with both ports 0): port 0 then means any
  // free port, the same one for IPv4 and IPv6.
  s->autoPort = FALSE;
  s->port = s->ipv6port = 0;
  rfbInitServer(s);
  UniqueFd sock4(rfbListenOnTCPPort(o.port, iface));
  if (!sock4) return Unexpected(fmt::format("cannot listen on {}:{}: {}", o.listen, o.port, std::strerror(errno)));
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(sock4.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  srv->port_ = ntohs(bound.sin_port);
  s->port = srv->port_;
  std::vector<UniqueFd> listeners;
  listeners.push_back(std::move(sock4));
  // An IPv6 listener as well (reference: libvncserver's HTTP side misbehaves without one).
  const bool loopback = (ntohl(iface) >> 24) == 127;
  srv->listen6_ = loopback ? "::1" : iface == htonl(INADDR_ANY) ? "::" : "";
  if (!srv->listen6_.empty()) {
    UniqueFd sock6(rfbListenOnTCP6Port(srv->port_, srv->listen6_.c_str()));
    if (sock6) {
      s->ipv6port = srv->port_;
      listeners.push_back(std::move(sock6));
    } else {
      spdlog::warn("VNC: no IPv6 listener on [{}]:{}: {}", srv->listen6_, srv->port_, std::strerror(errno));
    }
  }
  rfbRunEventLoop(s, -1, TRUE);  // threaded: two threads per client (its listener has no socket)
  // Our gate accepts instead, and hands on what may reach libvncserver as its listener would.
  srv->gate_ = std::make_unique<WsGate>(std::move(listeners), srv->port_, HostPolicy{o.listen, o.websocket.allowed_hosts},
                                        o.websocket.dashboard_port, [s](UniqueFd fd) {
                                          rfbClientPtr cl = rfbNewClient(s, fd.release());
                                          if (cl && !cl->onHold) rfbStartOnHoldClient(cl);
                                        });
  return srv;
}

std::array<uint64_t, kWsRefusals> RfbServer::websocket_refusals() const {
  std::array<uint64_t, kWsRefusals> out{};
  for (size_t i = 0; gate_ && i < kWsRefusals; ++i) out[i] = gate_->refused(static_cast<WsRefusal>(i));
  return out;
}

RfbServer::~RfbServer() {
  if (!screen_) return;
  gate_.reset();  // no newcomers from here on
  // Every client ended by us and gone before rfbShutdownServer: it walks its client list while
  // clients that end on their own take themselves off it and free themselves, and a client
  // freed under that walk was freed twice (seen: a browser closing as the daemon stopped).
  // Cutting them off first also ends writes stuck on a client that reads nothing.
  end_clients(kShutdownWait);
  rfbShutdownServer(screen_, TRUE);  // joins whoever did not leave in time
  screen_->cursor = nullptr;  // ours, freed below
  rfbScreenCleanup(screen_);
  free_cursor(cursor_);
  for (rfbCursor* c : retired_) free_cursor(c);
}

bool RfbServer::quiesce_drawers(ClientLocks& locks) {
  if (locks.ok()) {
    held_back_since_.reset();
    return true;
  }
  const auto now = Clock::now();
  if (!held_back_since_) held_back_since_ = now;
  else if (now - *held_back_since_ > kHoldBackLimit) {
    for (rfbClientPtr cl : locks.stuck()) cut_off(cl, "it takes no data and held every viewer back");
    held_back_since_.reset();
  }
  return false;
}

// Clients that take no cursor shape get libvncserver's cursor drawn into the shared framebuffer
// for the length of their update (rfbShowCursor ... rfbHideCursor puts back what was under
// it): a write in between would be undone. So writes wait until no such client is sending.
bool RfbServer::update(const fb::Image& picture, const std::vector<Rect>& rects) {
  if (picture.width != width() || picture.height != height()) return false;
  const bool cursor = screen_->cursor != nullptr;
  ClientLocks locks(hold_clients(), [cursor](rfbClientPtr cl) { return cursor && !cl->enableCursorShapeUpdates; },
                    kDrawerWait);
  if (!quiesce_drawers(locks)) return false;
  sraRegion* region = sraRgnCreate();
  for (const Rect& r : rects) {
    for (uint32_t y = r.y; y < r.y + r.h; ++y)
      to_server_pixels(&picture.px[size_t{y} * picture.width + r.x], &fb_[size_t{y} * picture.width + r.x], r.w);
    sraRegion* one = sraRgnCreateRect(static_cast<int>(r.x), static_cast<int>(r.y), static_cast<int>(r.x + r.w),
                                      static_cast<int>(r.y + r.h));
    sraRgnOr(region, one);
    sraRgnDestroy(one);
  }
  rfbMarkRegionAsModified(screen_, region);
  sraRgnDestroy(region);
  return true;
}

void RfbServer::resize(const fb::Image& picture) {
  // rfbNewFramebuffer takes every client's send lock, so it waits for updates in flight: a
  // client whose socket takes nothing would freeze this thread (and every viewer) until
  // libvncserver gives up on it. Cut such clients off first.
  {
    ClientLocks probe(hold_clients(), [](rfbClientPtr) { return true; }, kResizeWait);
    for (rfbClientPtr cl : probe.stuck()) cut_off(cl, "it takes no data and a resize must wait for it");
  }
  const uint32_t w = picture.width, h = picture.height, old_w = width(), old_h = height();
  // A client without desktop-resize may still be sent a rectangle of the old size: room for it
  // (it reads garbage there, not past the buffer).
  const size_t capacity = std::max(size_t{w} * h, size_t{old_h} * w + old_w);
  auto fresh = std::make_unique<uint32_t[]>(capacity);
  to_server_pixels(picture.px.data(), fresh.get(), size_t{w} * h);
  rfbNewFramebuffer(screen_, reinterpret_cast<char*>(fresh.get()), static_cast<int>(w), static_cast<int>(h), 8, 3, 4);
  set_server_format(screen_);  // rfbNewFramebuffer set the default format again
  fb_ = std::move(fresh);  // no client is sending from the old one: rfbNewFramebuffer waited
  width_ = w;
  height_ = h;
}

bool RfbServer::set_cursor(const std::optional<CursorImage>& c) {
  const bool drawn = screen_->cursor != nullptr || c.has_value();
  ClientLocks locks(hold_clients(), [drawn](rfbClientPtr cl) { return drawn && !cl->enableCursorShapeUpdates; },
                    kDrawerWait);
  if (!quiesce_drawers(locks)) return false;
  rfbCursor* next = c ? make_cursor(*c) : nullptr;
  rfbSetCursor(screen_, next);  // ours have cleanup off: libvncserver frees none of them
  if (cursor_) retired_.push_back(cursor_);
  cursor_ = next;
  poke_clients(false);
  reap_cursors();
  return true;
}

void RfbServer::move_pointer(int32_t x, int32_t y) {
  // RFB positions are unsigned: a pointer off the top or left edge shows at the edge.
  const int cx = std::clamp<int32_t>(x, 0, static_cast<int32_t>(width()) - 1);
  const int cy = std::clamp<int32_t>(y, 0, static_cast<int32_t>(height()) - 1);
  ::pthread_mutex_lock(&screen_->cursorMutex);
  screen_->cursorX = cx;
  screen_->cursorY = cy;
  ::pthread_mutex_unlock(&screen_->cursorMutex);
  poke_clients(true);
}

}  // namespace vgd::viewers
