// A browser's VNC connection (RFB over WebSockets, as noVNC speaks it to our VNC servers) that
// goes away in the middle of an update loses only itself. With libvncserver 0.9.14 both of such
// a client's threads closed it (the reader's read failed, the writer's write failed), and the
// second close freed its WebSockets request path again: the daemon aborted (docs/viewers.md).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include "fb/image.h"
#include "server/status.h"
#include "util/unique_fd.h"
#include "viewers/rfb_server.h"
#include "viewers/vnc_stream.h"
#include "web/prometheus.h"
#include "web/viewer_status.h"
#include "vnc_support.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;

constexpr int kDashboardPort = 8080;  // whose pages may open views (none listens there)
const viewers::RfbOptions kOptions{"127.0.0.1", 0, test::kVncPassword, "ws test", {{}, kDashboardPort}};

// Just enough of a WebSockets client (RFC 6455) for RFB: binary frames, ours masked.
class WsRfbClient {
 public:
  explicit WsRfbClient(int port) : port_(port), fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval tv{30, 0};  // a bound that catches a hang, never reached when things work
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }

  // The upgrade request with these Host and Origin headers (none when empty); the server's
  // answer's head ("" when it sent none).
  std::string upgrade(const std::string& host, const std::string& origin) {
    std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\n";
    if (!origin.empty()) req += "Origin: " + origin + "\r\n";
    req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n";
    return request(req);
  }
  // Sends `req` as it is; the answer's head.
  std::string request(const std::string& req) {
    if (!ok_ || !send_raw(req)) return {};
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos)
      if (::read(fd_.get(), &c, 1) != 1) return head; else head += c;
    return head;
  }
  // The rest of what the server sent (after a refusal: its reason).
  std::string rest() {
    std::string out;
    char b[512];
    ssize_t n;
    while ((n = ::read(fd_.get(), b, sizeof b)) > 0) out.append(b, static_cast<size_t>(n));
    return out;
  }

  // The upgrade from the dashboard's page, then RFB 3.8 with VNC authentication up to
  // ServerInit; its width and height.
  std::optional<std::pair<uint16_t, uint16_t>> handshake() {
    const std::string head = upgrade("127.0.0.1:" + std::to_string(port_), "http://127.0.0.1:" + std::to_string(kDashboardPort));
    if (head.find(" 101 ") == std::string::npos) return std::nullopt;
    auto version = take(12);
    if (!version || version->rfind("RFB 003.", 0) != 0 || !send("RFB 003.008\n")) return std::nullopt;
    auto count = take(1);
    if (!count || (*count)[0] == 0 || !take(static_cast<uint8_t>((*count)[0])) || !send(std::string(1, '\2')))
      return std::nullopt;
    auto challenge = take(16);
    if (!challenge) return std::nullopt;
    const auto answer = test::vnc_auth_response(std::vector<uint8_t>(challenge->begin(), challenge->end()), test::kVncPassword);
    if (!send(std::string(answer.begin(), answer.end()))) return std::nullopt;
    auto result = take(4);
    if (!result || *result != std::string(4, '\0') || !send(std::string(1, '\1'))) return std::nullopt;  // shared
    auto init = take(24);
    if (!init) return std::nullopt;
    auto name_len = be32(init->data() + 20);
    if (!take(name_len)) return std::nullopt;
    return std::pair{be16(init->data()), be16(init->data() + 2)};
  }

  // Raw pixels only (the largest updates), then the whole screen, non-incremental.
  bool request_everything(uint16_t w, uint16_t h) {
    const std::string encodings("\x02\x00\x00\x01\x00\x00\x00\x00", 8);
    std::string fur("\x03\x00\x00\x00\x00\x00", 6);
    fur += static_cast<char>(w >> 8), fur += static_cast<char>(w & 0xff);
    fur += static_cast<char>(h >> 8), fur += static_cast<char>(h & 0xff);
    return send(encodings + fur);
  }
  // The first `n` bytes of what the server sends after ServerInit.
  bool receive(size_t n) { return take(n).has_value(); }

  // Closes with a reset (SO_LINGER 0): the server's reads and writes fail at once.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    fd_.reset();
  }

 private:
  static uint16_t be16(const char* p) { return static_cast<uint16_t>((uint8_t(p[0]) << 8) | uint8_t(p[1])); }
  static uint32_t be32(const char* p) { return (uint32_t{be16(p)} << 16) | be16(p + 2); }

  bool send_raw(const std::string& s) {
    return ::send(fd_.get(), s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  bool send(const std::string& payload) {  // one masked binary frame (payloads < 126 bytes)
    const char mask[4] = {0x11, 0x22, 0x33, 0x44};
    std::string f{static_cast<char>(0x82), static_cast<char>(0x80 | payload.size())};
    f.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
    return send_raw(f);
  }
  bool read_exact(char* p, size_t n) {
    while (n > 0) {
      const ssize_t r = ::read(fd_.get(), p, n);
      if (r <= 0) return false;
      p += r, n -= static_cast<size_t>(r);
    }
    return true;
  }
  // n bytes of the RFB stream, unwrapped from the server's frames.
  std::optional<std::string> take(size_t n) {
    while (buf_.size() < n) {
      char h[2];
      if (!read_exact(h, 2)) return std::nullopt;
      uint64_t len = uint8_t(h[1]) & 0x7f;
      const size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
      char e[8];
      if (ext && !read_exact(e, ext)) return std::nullopt;
      if (ext) {
        len = 0;
        for (size_t i = 0; i < ext; ++i) len = (len << 8) | uint8_t(e[i]);
      }
      std::string payload(len, '\0');
      if (!read_exact(payload.data(), len)) return std::nullopt;
      buf_ += payload;
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }

  int port_;
  UniqueFd fd_;
  bool ok_ = false;
  std::string buf_;
};

// The stream's part, on its own thread until destroyed: admit newcomers and keep the whole
// picture changing, so that every client always has a large update coming.
class ChangingScreen {
 public:
  explicit ChangingScreen(viewers::RfbServer& rfb)
      : thread_([this, &rfb] {
          const uint32_t w = rfb.width(), h = rfb.height();
          fb::Image pic{w, h, std::vector<uint32_t>(size_t{w} * h)};
          for (uint32_t n = 0; !stop_; ++n) {
            for (size_t i = 0; i < pic.px.size(); ++i) pic.px[i] = static_cast<uint32_t>(i * 2654435761u + n);
            rfb.admit_clients();
            rfb.update(pic, {viewers::Rect{0, 0, w, h}});
            std::this_thread::sleep_for(5ms);
          }
        }) {}
  ~ChangingScreen() {
    stop_ = true;
    thread_.join();
  }
  ChangingScreen(const ChangingScreen&) = delete;
  ChangingScreen& operator=(const ChangingScreen&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(VncWebSocket, BrowsersThatGoAwayMidUpdateLoseOnlyThemselves) {
  constexpr uint32_t kW = 1024, kH = 768;
  auto srv = viewers::RfbServer::start(kOptions, kW, kH, [] {});
  ASSERT_TRUE(srv) << srv.error();
  viewers::RfbServer& rfb = **srv;
  const ChangingScreen screen(rfb);
  for (int i = 0; i < 12; ++i) {
    WsRfbClient c(rfb.port());
    auto size = c.handshake();
    ASSERT_TRUE(size) << "client " << i << ": no RFB handshake over WebSockets";
    EXPECT_EQ(size->first, kW);
    ASSERT_TRUE(c.request_everything(size->first, size->second));
    ASSERT_TRUE(c.receive(256 * 1024)) << "client " << i << ": no update";  // mid-way through 3 MiB
    c.reset();
  }
  // Still serving: a newcomer gets its picture.
  WsRfbClient last(rfb.port());
  auto size = last.handshake();
  ASSERT_TRUE(size);
  ASSERT_TRUE(last.request_everything(size->first, size->second));
  EXPECT_TRUE(last.receive(size_t{kW} * kH * 4));
}

// Only our pages open views (docs/viewers.md, "Access"): another site's page (Origin), or a
// name rebound to 127.0.0.1 (Host), gets a 403 before libvncserver sees it, and the VNC
// clients and the dashboard's pages beside it are served.
TEST(VncWebSocket, AForeignOriginOrHostIsA403) {
  auto srv = viewers::RfbServer::start(kOptions, 64, 64, [] {});
  ASSERT_TRUE(srv) << srv.error();
  const ChangingScreen screen(**srv);
  const std::string port = std::to_string((*srv)->port());
  struct Case {
    std::string host, origin;
    bool ok;
  };
  for (const Case& k : {Case{"127.0.0.1:" + port, "http://evil.example", false},
                        Case{"127.0.0.1:" + port, "http://127.0.0.1:3000", false},
                        Case{"127.0.0.1:" + port, "null", false},
                        Case{"rebound.example:" + port, "http://rebound.example:8080", false},
                        Case{"localhost:" + port, "http://localhost:8080", true},
                        Case{"[::1]:" + port, "http://[::1]:" + port, true}}) {  // a page of this port
    WsRfbClient c((*srv)->port());
    const std::string head = c.upgrade(k.host, k.origin);
    if (k.ok) {
      EXPECT_NE(head.find(" 101 "), std::string::npos) << k.host << " " << k.origin << ": " << head;
    } else {
      EXPECT_EQ(head.rfind("HTTP/1.1 403 ", 0), 0u) << k.host << " " << k.origin << ": " << head;
      EXPECT_NE(c.rest().find("403 forbidden"), std::string::npos);
    }
  }
  EXPECT_EQ((*srv)->websocket_refused(), 4u) << "each refusal counted";
  const auto by_reason = (*srv)->websocket_refusals();
  EXPECT_EQ(by_reason[static_cast<size_t>(viewers::WsRefusal::Host)], 1u);
  EXPECT_EQ(by_reason[static_cast<size_t>(viewers::WsRefusal::Origin)], 3u);
  // A VNC client says nothing first: it is let through after a moment and asked the password.
  EXPECT_TRUE(test::raw_rfb((*srv)->port()));
  WsRfbClient page((*srv)->port());
  EXPECT_TRUE(page.handshake()) << "the dashboard's page still gets in";
}

// A dashboard on any free port ([web] port = 0) is bound after the VNC ports: until it tells them
// its port only their own pages may open views, then its pages too, and never another port's
// (docs/security.md §5).
TEST(VncWebSocket, TheDashboardsPagesGetInOnceItsPortIsKnown) {
  auto srv = viewers::RfbServer::start({"127.0.0.1", 0, test::kVncPassword, "ws test", {{}, 0}}, 64, 64, [] {});
  ASSERT_TRUE(srv) << srv.error();
  const ChangingScreen screen(**srv);
  const std::string host = "127.0.0.1:" + std::to_string((*srv)->port());
  const auto opens = [&](const std::string& origin) {
    WsRfbClient c((*srv)->port());
    return c.upgrade(host, origin).find(" 101 ") != std::string::npos;
  };
  EXPECT_FALSE(opens("http://127.0.0.1:" + std::to_string(kDashboardPort))) << "not known yet: refused";
  EXPECT_FALSE(opens("http://127.0.0.1:3000"));
  EXPECT_TRUE(opens("http://" + host)) << "the port's own page";
  (*srv)->set_dashboard_port(kDashboardPort);
  EXPECT_TRUE(opens("http://127.0.0.1:" + std::to_string(kDashboardPort))) << "the dashboard's page, once bound";
  EXPECT_TRUE(opens("http://localhost:" + std::to_string(kDashboardPort)));
  EXPECT_FALSE(opens("http://127.0.0.1:3000")) << "another local site still";
  EXPECT_EQ((*srv)->websocket_refused(), 3u);
  WsRfbClient page((*srv)->port());
  EXPECT_TRUE(page.handshake()) << "the dashboard's page gets its picture";
}

// What an operator sees: each refused upgrade on a vGPU's VNC port is in /metrics, by reason, as
// vgpud renders it (VncStream's stats, web::viewer_status, prometheus_text).
TEST(VncWebSocket, RefusedUpgradesAreInTheMetrics) {
  constexpr uint32_t kVgpu = 3;
  // No daemon answers at this path: the stream listens at once and keeps trying to connect.
  auto vnc = viewers::VncStream::start({"/nonexistent/vgpud.sock", kVgpu, "127.0.0.1", 0, test::kVncPassword, "",
                                        {{}, kDashboardPort}});
  ASSERT_TRUE(vnc) << vnc.error();
  const int port = (*vnc)->port();
  const std::string host = "127.0.0.1:" + std::to_string(port);
  const auto metrics = [&] {
    server::DaemonStatus s;
    server::VgpuStatus v;
    v.id = kVgpu;
    v.vnc = web::viewer_status((*vnc)->stats());
    s.vgpus.push_back(v);
    return web::prometheus_text(s);
  };
  const auto line = [](const std::string& reason, int n) {
    return "vgpud_vnc_ws_refused_total{vgpu=\"3\",reason=\"" + reason + "\"} " + std::to_string(n) + "\n";
  };
  const std::string before = metrics();
  EXPECT_NE(before.find("# TYPE vgpud_vnc_ws_refused_total counter\n"), std::string::npos) << before;
  for (const char* reason : {"host", "origin", "header"}) EXPECT_NE(before.find(line(reason, 0)), std::string::npos) << before;

  const auto refused = [&](const std::string& req) {
    WsRfbClient c(port);
    return c.request(req).rfind("HTTP/1.1 403 ", 0) == 0;
  };
  const auto req = [](const std::string& h, const std::string& origin) {
    return "GET / HTTP/1.1\r\nHost: " + h + "\r\nOrigin: " + origin + "\r\nUpgrade: websocket\r\n\r\n";
  };
  EXPECT_TRUE(refused(req(host, "http://evil.example")));
  EXPECT_TRUE(refused(req(host, "http://127.0.0.1:3000")));
  EXPECT_TRUE(refused(req("rebound.example:" + std::to_string(port), "http://rebound.example:8080")));
  // A header that fills the door's buffer without ending.
  EXPECT_TRUE(refused("GET / HTTP/1.1\r\nHost: " + host + "\r\nX-Pad: " + std::string(9000, 'a')));
  const std::string after = metrics();
  EXPECT_NE(after.find(line("origin", 2)), std::string::npos) << after;
  EXPECT_NE(after.find(line("host", 1)), std::string::npos) << after;
  EXPECT_NE(after.find(line("header", 1)), std::string::npos) << after;
}

// The daemon stopping as browsers go away: the server's teardown and the clients' own endings
// must not both free a client.
TEST(VncWebSocket, StoppingWhileBrowsersGoAwayFreesEachClientOnce) {
  constexpr uint32_t kW = 1024, kH = 768;
  for (int round = 0; round < 8; ++round) {
    auto srv = viewers::RfbServer::start(kOptions, kW, kH, [] {});
    ASSERT_TRUE(srv) << srv.error();
    auto screen = std::make_unique<ChangingScreen>(**srv);
    std::vector<std::unique_ptr<WsRfbClient>> clients;
    for (int i = 0; i < 3; ++i) {
      auto c = std::make_unique<WsRfbClient>((*srv)->port());
      auto size = c->handshake();
      ASSERT_TRUE(size);
      ASSERT_TRUE(c->request_everything(size->first, size->second));
      ASSERT_TRUE(c->receive(64 * 1024));
      clients.push_back(std::move(c));
    }
    screen.reset();
    for (auto& c : clients) c->reset();
    srv->reset();  // at once, while the clients' threads find their sockets reset
  }
}

}  // namespace
}  // namespace vgd
