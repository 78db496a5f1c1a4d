// The pure parts of the viewers' access (docs/viewers.md, "Access"): made-up credentials,
// constant-time comparison, which Host and Origin headers are ours, and what a VNC port's gate
// makes of a connection's first bytes.
#include <gtest/gtest.h>

#include <set>

#include "config/viewer_access.h"
#include "util/http_host.h"
#include "util/secrets.h"
#include "viewers/ws_gate.h"

namespace vgd {
namespace {

TEST(Secrets, MadeUpCredentialsAreRandomAndOfTheirLength) {
  const std::string hex = random_hex(16);
  EXPECT_EQ(hex.size(), 32u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << hex;
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(random_password(8));
  EXPECT_EQ(seen.size(), 100u) << "no repeats among 100 made-up passwords";
  for (const std::string& p : seen) {
    EXPECT_EQ(p.size(), 8u);
    EXPECT_EQ(p.find_first_of("0O1lI"), std::string::npos) << p << ": no look-alikes";
  }
}

TEST(Secrets, SecretEqualIsEquality) {
  EXPECT_TRUE(secret_equal("abc", "abc"));
  EXPECT_FALSE(secret_equal("abc", "abd"));
  EXPECT_FALSE(secret_equal("abc", "ab"));
  EXPECT_FALSE(secret_equal("", "a"));
  EXPECT_TRUE(secret_equal("", ""));
}

TEST(ViewerCredentials, MadeUpUnlessConfiguredOrTurnedOff) {
  DaemonConfig cfg;
  const MadeUpCredentials made = fill_in_credentials(cfg);
  EXPECT_TRUE(made.vnc_password && made.web_token);
  EXPECT_EQ(cfg.vnc.password.size(), kVncPasswordChars);
  EXPECT_EQ(cfg.web.token.size(), 2 * kWebTokenBytes);

  DaemonConfig set;
  set.vnc.password = "mine";
  set.web.token = "ours";
  EXPECT_FALSE(fill_in_credentials(set).vnc_password);
  EXPECT_EQ(set.vnc.password, "mine");
  EXPECT_EQ(set.web.token, "ours");

  DaemonConfig off;
  off.vnc.auth = off.web.auth = false;
  const MadeUpCredentials none = fill_in_credentials(off);
  EXPECT_FALSE(none.vnc_password || none.web_token);
  EXPECT_TRUE(off.vnc.password.empty() && off.web.token.empty());
}

TEST(HostPolicy, OnlyOurNamesOnOurPort) {
  const HostPolicy p{"127.0.0.1", {"box.lan"}};
  for (const char* ok : {"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "box.lan:8080", "LOCALHOST:8080"})
    EXPECT_TRUE(p.host_header_ok(ok, 8080)) << ok;
  for (const char* bad : {"evil.example:8080", "127.0.0.1:8081", "127.0.0.1", "", "127.0.0.1.evil.example:8080",
                          "10.0.0.1:8080", "[::1", "127.0.0.1:", "127.0.0.1:80x", "a b:8080"})
    EXPECT_FALSE(p.host_header_ok(bad, 8080)) << bad;
  EXPECT_TRUE(p.host_header_ok("localhost", 80)) << "no port: 80";
  const HostPolicy any{"0.0.0.0", {}};
  EXPECT_TRUE(any.host_header_ok("192.168.1.20:8080", 8080)) << "any literal address when listening on all";
  EXPECT_TRUE(any.host_header_ok("[fe80::1]:8080", 8080));
  EXPECT_FALSE(any.host_header_ok("rebound.example:8080", 8080)) << "names still must be ours";
  const HostPolicy v6{"::1", {}};
  EXPECT_TRUE(v6.host_header_ok("[::1]:9", 9));
}

TEST(HostPolicy, OriginsParse) {
  std::string scheme;
  auto o = parse_origin("http://127.0.0.1:8080", &scheme);
  ASSERT_TRUE(o);
  EXPECT_EQ(scheme, "http");
  EXPECT_EQ(o->host, "127.0.0.1");
  EXPECT_EQ(o->port, 8080);
  EXPECT_EQ(parse_origin("https://box.lan")->port, 443);
  EXPECT_EQ(parse_origin("http://[::1]:5901")->host, "[::1]");
  for (const char* bad : {"null", "", "file://", "http://", "http://a/b", "http://u@evil.example", "ftp://x"})
    EXPECT_FALSE(parse_origin(bad)) << bad;
}

std::string upgrade(const std::string& host, const std::string& origin) {
  std::string r = "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\n";
  if (!origin.empty()) r += "Origin: " + origin + "\r\n";
  return r + "Sec-WebSocket-Version: 13\r\n\r\n";
}

TEST(WsGate, JudgesTheFirstBytes) {
  using V = viewers::Opening::Verdict;
  const HostPolicy p{"127.0.0.1", {}};
  const auto verdict = [&](const std::string& bytes, int dashboard = 8080) {
    return viewers::judge_opening(bytes, p, 5901, dashboard).verdict;
  };
  EXPECT_EQ(verdict("RFB 003.008\n"), V::Pass) << "not HTTP: libvncserver's";
  EXPECT_EQ(verdict("\x16\x03\x01"), V::Pass) << "TLS: libvncserver's (it refuses it)";
  EXPECT_EQ(verdict("GE"), V::Wait);
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nHost: 127.0.0.1:5901\r\n"), V::Wait) << "the header has not ended";
  EXPECT_EQ(verdict(upgrade("127.0.0.1:5901", "http://127.0.0.1:8080")), V::Pass) << "the dashboard's page";
  EXPECT_EQ(verdict(upgrade("localhost:5901", "http://localhost:5901")), V::Pass) << "a page of this port";
  EXPECT_EQ(verdict(upgrade("127.0.0.1:5901", "")), V::Pass) << "no Origin: not a browser";
  EXPECT_EQ(verdict(upgrade("127.0.0.1:5901", "http://evil.example")), V::Refuse);
  EXPECT_EQ(verdict(upgrade("127.0.0.1:5901", "http://127.0.0.1:3000")), V::Refuse) << "another local site";
  EXPECT_EQ(verdict(upgrade("127.0.0.1:5901", "null")), V::Refuse);
  EXPECT_EQ(verdict(upgrade("127.0.0.1:5901", "http://127.0.0.1:8080"), 0), V::Refuse) << "no dashboard";
  EXPECT_EQ(verdict(upgrade("rebound.example:5901", "http://rebound.example:8080")), V::Refuse);
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), V::Refuse) << "no Host";
  EXPECT_NE(viewers::judge_opening(upgrade("127.0.0.1:5901", "http://evil.example"), p, 5901, 8080).why.find("evil.example"),
            std::string::npos);
}

// Why a refusal is counted (vgpud_vnc_ws_refused_total{reason}).
TEST(WsGate, SaysWhyItRefuses) {
  const HostPolicy p{"127.0.0.1", {}};
  const auto judge = [&](const std::string& host, const std::string& origin) {
    return viewers::judge_opening(upgrade(host, origin), p, 5901, 8080);
  };
  EXPECT_EQ(judge("rebound.example:5901", "http://127.0.0.1:8080").reason, viewers::WsRefusal::Host);
  EXPECT_EQ(judge("127.0.0.1:5902", "http://127.0.0.1:8080").reason, viewers::WsRefusal::Host) << "another VNC port";
  EXPECT_EQ(judge("127.0.0.1:5901", "http://evil.example").reason, viewers::WsRefusal::Origin);
  EXPECT_EQ(viewers::kWsRefusalNames[static_cast<size_t>(viewers::WsRefusal::Header)], "header");
}

// Which pages may open a view on VNC port 5901 (docs/security.md §5): an http page on one of our
// names, on that port or on the dashboard's once its port is known; with no dashboard, or before
// a dashboard on any free port ([web] port = 0) is bound, only that port's own pages.
TEST(WsGate, WhichPagesMayOpenAView) {
  const HostPolicy loopback{"127.0.0.1", {"vgpu-box.lan"}};
  const HostPolicy everywhere{"0.0.0.0", {}};
  struct Case {
    const HostPolicy* hosts;
    std::string origin;
    int dashboard;
    bool ok;
  };
  const Case cases[] = {
      // The dashboard on 8080.
      {&loopback, "http://127.0.0.1:8080", 8080, true},
      {&loopback, "http://localhost:8080", 8080, true},
      {&loopback, "http://[::1]:8080", 8080, true},
      {&loopback, "http://vgpu-box.lan:8080", 8080, true},      // allowed_hosts
      {&loopback, "http://VGPU-BOX.lan:8080/", 8080, true},     // case and a trailing slash
      {&loopback, "http://127.0.0.1:5901", 8080, true},         // this port's own page
      {&loopback, "http://127.0.0.1:3000", 8080, false},        // another local server's page
      {&loopback, "http://127.0.0.1:5902", 8080, false},        // another VNC port's
      {&loopback, "http://127.0.0.1", 8080, false},             // port 80
      {&loopback, "http://evil.example:8080", 8080, false},     // a foreign name on our port
      {&loopback, "http://192.168.1.9:8080", 8080, false},      // an address we do not listen on
      {&loopback, "https://127.0.0.1:8080", 8080, false},       // nothing of ours serves https
      {&loopback, "ws://127.0.0.1:8080", 8080, false},
      {&loopback, "null", 8080, false},                         // a sandboxed or file: page
      {&loopback, "", 8080, false},
      {&loopback, "127.0.0.1:8080", 8080, false},               // no scheme
      {&loopback, "http://user@127.0.0.1:8080", 8080, false},
      {&loopback, "http://127.0.0.1:8080/page", 8080, false},   // an origin has no path
      // No dashboard, or one on any free port not bound yet: this port only.
      {&loopback, "http://127.0.0.1:5901", 0, true},
      {&loopback, "http://localhost:5901", 0, true},
      {&loopback, "http://vgpu-box.lan:5901", 0, true},
      {&loopback, "http://127.0.0.1:8080", 0, false},
      {&loopback, "http://127.0.0.1:3000", 0, false},
      {&loopback, "http://127.0.0.1:5902", 0, false},
      {&loopback, "http://evil.example:5901", 0, false},
      {&loopback, "http://127.0.0.1:3000", -1, false},          // no "any port" any more
      // Listening everywhere: any IP address is ours (it cannot be rebound), names are not.
      {&everywhere, "http://192.168.1.9:8080", 8080, true},
      {&everywhere, "http://192.168.1.9:5901", 0, true},
      {&everywhere, "http://192.168.1.9:3000", 8080, false},
      {&everywhere, "http://rebound.example:8080", 8080, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(viewers::page_may_open(c.origin, *c.hosts, 5901, c.dashboard), c.ok)
        << c.origin << " with the dashboard on " << c.dashboard << " (listening on " << c.hosts->listen << ")";
    if (c.origin.empty()) continue;  // an upgrade without Origin is not a browser's
    const std::string host = c.hosts == &everywhere ? "192.168.1.9:5901" : "127.0.0.1:5901";
    const auto o = viewers::judge_opening(upgrade(host, c.origin), *c.hosts, 5901, c.dashboard);
    EXPECT_EQ(o.verdict == viewers::Opening::Verdict::Pass, c.ok) << c.origin << " on " << c.dashboard << ": " << o.why;
    if (!c.ok) {
      EXPECT_EQ(o.reason, viewers::WsRefusal::Origin) << c.origin;
    }
  }
}

}  // namespace
}  // namespace vgd
