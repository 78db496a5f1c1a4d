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
  EXPECT_EQ(verdict(upgrade("127.0.0.1:5901", "http://127.0.0.1:3000"), -1), V::Pass) << "dashboard port not known";
  EXPECT_EQ(verdict(upgrade("127.0.0.1:5901", "http://127.0.0.1:8080"), 0), V::Refuse) << "no dashboard";
  EXPECT_EQ(verdict(upgrade("rebound.example:5901", "http://rebound.example:8080")), V::Refuse);
  EXPECT_EQ(verdict("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"), V::Refuse) << "no Host";
  EXPECT_NE(viewers::judge_opening(upgrade("127.0.0.1:5901", "http://evil.example"), p, 5901, 8080).why.find("evil.example"),
            std::string::npos);
}

}  // namespace
}  // namespace vgd
