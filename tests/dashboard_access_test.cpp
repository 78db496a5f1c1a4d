// Who the dashboard answers (docs/viewers.md, "Access"): a request without the access token
// or with a wrong one gets a 401, a foreign Host (DNS rebinding) or a foreign Origin (another
// site's page, a websocket) a 403, each logged and counted in /metrics; the right token, as
// ?token=, as the cookie that sets, or as a bearer token, gets everything, the VNC password
// for the page's views included.
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "util/secrets.h"
#include "web/dashboard.h"

namespace vgd {
namespace {

using nlohmann::json;

class DashboardAccess : public ::testing::Test {
 protected:
  void start(web::DashboardOptions o) {
    o.web_root = web::default_web_root();
    auto started = web::Dashboard::start(std::move(o), [] { return server::DaemonStatus{}; });
    ASSERT_TRUE(started) << started.error();
    dash = std::move(*started);
    cli = std::make_unique<httplib::Client>("127.0.0.1", dash->port());
    cli->set_read_timeout(5, 0);
  }
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(start({"127.0.0.1", 0, "", token, {"vgpu-box.lan"}, true, "pw123456"})); }
  int status(const std::string& path, const httplib::Headers& h = {}) {
    auto r = cli->Get(path.c_str(), h);
    return r ? r->status : -1;
  }
  std::string metrics() {
    auto r = cli->Get(("/metrics?token=" + token).c_str());
    return r ? r->body : "";
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(dash->port()); }
  httplib::Headers bearer(std::string t) const { return {{"Authorization", "Bearer " + t}}; }

  const std::string token = random_hex(16);
  std::unique_ptr<web::Dashboard> dash;
  std::unique_ptr<httplib::Client> cli;
};

TEST_F(DashboardAccess, NoTokenOrAWrongOneIsA401WithTheReasonAndCounted) {
  for (const char* path : {"/", "/index.html", "/dashboard.js", "/api/daemon", "/api/vnc", "/metrics"}) {
    auto r = cli->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_NE(r->body.find("?token="), std::string::npos) << path << " says how to get in: " << r->body;
    EXPECT_EQ(r->body.find("pw123456"), std::string::npos) << path;
  }
  EXPECT_EQ(status("/api/daemon?token=" + std::string(32, '0')), 401);
  EXPECT_EQ(status("/api/daemon", bearer(token.substr(0, 31))), 401) << "a prefix of the token";
  EXPECT_EQ(status("/api/daemon", bearer(token + "0")), 401);
  EXPECT_EQ(status("/api/daemon", {{"Cookie", "vgpud_token_" + std::to_string(dash->port()) + "=nope"}}), 401);
  auto api = cli->Get("/api/vgpus");
  ASSERT_TRUE(api);
  EXPECT_EQ(json::parse(api->body)["error"]["status"], 401) << "/api explains in JSON";
  EXPECT_NE(metrics().find("vgpud_web_refused_total{reason=\"token\"} 11\n"), std::string::npos) << metrics();
}

TEST_F(DashboardAccess, TheRightTokenOpensEverythingAndTheCookieCarriesIt) {
  auto page = cli->Get(("/?token=" + token).c_str());
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  const std::string cookie = page->get_header_value("Set-Cookie");
  const std::string name = "vgpud_token_" + std::to_string(dash->port());
  EXPECT_EQ(cookie.rfind(name + "=" + token + ";", 0), 0u) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
  // The page's own requests then carry only the cookie.
  const httplib::Headers jar{{"Cookie", "other=1; " + name + "=" + token}};
  for (const char* path : {"/dashboard.js", "/novnc/core/rfb.js", "/api/daemon", "/metrics"})
    EXPECT_EQ(status(path, jar), 200) << path;
  EXPECT_EQ(status("/api/daemon", bearer(token)), 200) << "a tool's bearer token";
  auto vnc = cli->Get("/api/vnc", jar);
  ASSERT_TRUE(vnc);
  EXPECT_EQ(json::parse(vnc->body)["password"], "pw123456") << "the page's views log in with it";
  EXPECT_NE(metrics().find("vgpud_web_refused_total{reason=\"token\"} 0\n"), std::string::npos);
}

TEST_F(DashboardAccess, AForeignHostIsA403EvenWithTheToken) {
  EXPECT_EQ(status("/api/daemon", {{"Host", "evil.example:" + std::to_string(dash->port())}, {"Authorization", "Bearer " + token}}), 403);
  EXPECT_EQ(status("/", {{"Host", "127.0.0.1.evil.example"}}), 403);
  EXPECT_EQ(status("/api/daemon", {{"Host", "127.0.0.1:1"}, {"Authorization", "Bearer " + token}}), 403) << "another port";
  auto r = cli->Get("/?token=" + token, {{"Host", "rebound.example:" + std::to_string(dash->port())}});
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("allowed_hosts"), std::string::npos) << r->body;
  EXPECT_TRUE(r->get_header_value("Set-Cookie").empty()) << "no cookie for a foreign name";
  // Ours: loopback names, the listen address, a configured name.
  for (const std::string h : {"localhost", "127.0.0.1", "[::1]", "vgpu-box.lan", "VGPU-Box.lan"})
    EXPECT_EQ(status("/api/daemon", {{"Host", h + ":" + std::to_string(dash->port())}, {"Authorization", "Bearer " + token}}), 200) << h;
  EXPECT_NE(metrics().find("vgpud_web_refused_total{reason=\"host\"} 4\n"), std::string::npos) << metrics();
}

TEST_F(DashboardAccess, AForeignOriginIsA403ForWebsocketsAndPosts) {
  const httplib::Headers upgrade{{"Origin", "http://evil.example"}, {"Upgrade", "websocket"}, {"Connection", "Upgrade"},
                                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Sec-WebSocket-Version", "13"},
                                 {"Authorization", "Bearer " + token}};
  EXPECT_EQ(status("/", upgrade), 403);
  auto post = cli->Post("/api/vgpus", {{"Origin", "http://localhost:1"}, {"Authorization", "Bearer " + token}}, "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 403) << "another port is another origin";
  EXPECT_EQ(status("/api/daemon", {{"Origin", "null"}, {"Authorization", "Bearer " + token}}), 403);
  EXPECT_EQ(status("/api/daemon", {{"Origin", "http://" + host()}, {"Authorization", "Bearer " + token}}), 200) << "our own page";
  EXPECT_NE(metrics().find("vgpud_web_refused_total{reason=\"origin\"} 3\n"), std::string::npos) << metrics();
}

TEST(DashboardAccessOff, AuthNoneAsksForNothingAndMetricsAuthNoneOpensOnlyMetrics) {
  auto open = web::Dashboard::start({"127.0.0.1", 0, web::default_web_root(), "", {}, true, ""}, [] { return server::DaemonStatus{}; });
  ASSERT_TRUE(open) << open.error();
  httplib::Client c("127.0.0.1", (*open)->port());
  auto r = c.Get("/api/daemon");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ((*open)->login_url(), (*open)->url());
  auto foreign = c.Get("/api/daemon", {{"Host", "evil.example"}});
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403) << "the Host check stays without a token";

  auto scraped = web::Dashboard::start({"127.0.0.1", 0, web::default_web_root(), "tok", {}, false, ""},
                                       [] { return server::DaemonStatus{}; });
  ASSERT_TRUE(scraped) << scraped.error();
  httplib::Client s("127.0.0.1", (*scraped)->port());
  auto m = s.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  auto api = s.Get("/api/daemon");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 401);
  EXPECT_EQ((*scraped)->login_url(), (*scraped)->url() + "?token=tok");
}

}  // namespace
}  // namespace vgd
