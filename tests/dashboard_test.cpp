// The dashboard over HTTP, as a browser, a scraper and a hostile client see it, in front of an
// in-process daemon with its three demo guests: the page and noVNC are served, /api and
// /metrics answer, unknown ids and paths get clear errors, and bad requests never stop it.
// Every request shows the access token, as the daemon's own dashboard asks (who is refused
// and why: dashboard_access_test.cpp).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon_support.h"
#include "util/secrets.h"
#include "web/dashboard.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Sends raw bytes on a fresh connection; returns what came back (up to 4 KiB, 5 s).
// (No half-close: httplib takes a peer that shut its side down as gone and does not answer.)
std::string raw_request(int port, const std::string& bytes) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "connect failed";
  if (bytes.empty()) return {};  // connect, say nothing, hang up
  (void)!::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out(4096, '\0');
  const ssize_t n = ::recv(fd.get(), out.data(), out.size(), 0);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d.start(DaemonConfig{}, "dashboard");
    auto started = web::Dashboard::start({"127.0.0.1", 0, web::default_web_root(), token, {}, true, ""},
                                         [this] { return collector.collect(*d.host, *d.srv); });
    ASSERT_TRUE(started) << started.error();
    dash = std::move(*started);
    cli = std::make_unique<httplib::Client>("127.0.0.1", dash->port());
    cli->set_read_timeout(5, 0);
    cli->set_bearer_token_auth(token.c_str());
  }
  void TearDown() override {
    cli.reset();
    dash.reset();  // before the daemon it reports on
    d.stop();
  }
  json get_json(const std::string& path, int status = 200) {
    auto r = cli->Get(path.c_str());
    if (!r) {
      ADD_FAILURE() << path << ": " << httplib::to_string(r.error());
      return {};
    }
    EXPECT_EQ(r->status, status) << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << path;
    return json::parse(r->body, nullptr, false);
  }

  // A raw request's Host and token headers.
  std::string headers() const {
    return fmt::format("Host: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n", dash->port(), token);
  }

  const std::string token = random_hex(16);
  test::RunningDaemon d;
  server::StatusCollector collector;
  std::unique_ptr<web::Dashboard> dash;
  std::unique_ptr<httplib::Client> cli;
};

TEST_F(DashboardTest, ListensOnLoopbackAndSaysWhere) {
  EXPECT_GT(dash->port(), 0);
  EXPECT_EQ(dash->url(), "http://127.0.0.1:" + std::to_string(dash->port()) + "/");
}

TEST_F(DashboardTest, ServesThePageAndNoVncFromTheBuildTree) {
  auto page = cli->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type").rfind("text/html", 0), 0u);
  EXPECT_NE(page->body.find("dashboard.js"), std::string::npos);
  for (const char* js : {"/dashboard.js", "/novnc/core/rfb.js", "/novnc/vendor/pako/lib/zlib/inflate.js"}) {
    auto r = cli->Get(js);
    ASSERT_TRUE(r) << js;
    EXPECT_EQ(r->status, 200) << js;
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/javascript") << js << ": modules need a JavaScript type";
  }
  auto rfb = cli->Get("/dashboard.js");
  EXPECT_NE(rfb->body.find("/novnc/core/rfb.js"), std::string::npos) << "noVNC from vgpud itself, not a CDN";
}

TEST_F(DashboardTest, ApiVgpusListsEveryVgpuInFull) {
  json a;
  for (int i = 0; i < 100; ++i) {  // the guests program their modes shortly after start
    a = get_json("/api/vgpus");
    if (a.size() == 3 && a[0]["mode"]["width"] == 1024 && a[2]["mode"]["width"] == 1024) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(a.is_array());
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0]["id"], 1);
  EXPECT_EQ(a[0]["workload"], "desktop");
  EXPECT_EQ(a[2]["workload"], "video");
  EXPECT_EQ(a[0]["state"], "running");
  EXPECT_NEAR(a[0]["mode"]["refresh_mhz"].get<double>(), 60000, 10) << "60 Hz as the timings give it";
  EXPECT_TRUE(a[0]["vnc"].is_null()) << "no viewer in this test";
  EXPECT_TRUE(a[0]["events"]["latency"]["buckets"].is_array());
}

TEST_F(DashboardTest, ApiOneVgpuAndUnknownIds) {
  const json v = get_json("/api/vgpus/1");
  EXPECT_EQ(v["id"], 1);
  EXPECT_EQ(v["type"], "GVTg_V5_8");
  const json missing = get_json("/api/vgpus/99", 404);
  EXPECT_EQ(missing["error"]["status"], 404);
  EXPECT_EQ(missing["error"]["message"], "no vGPU 99");
  EXPECT_EQ(get_json("/api/vgpus/99999999999999999999", 404)["error"]["status"], 404) << "too long for an id";
  EXPECT_EQ(get_json("/api/vgpus/abc", 404)["error"]["status"], 404);
  EXPECT_EQ(get_json("/api/nothing", 404)["error"]["status"], 404) << "an unknown /api path is a JSON 404 too";
}

TEST_F(DashboardTest, ApiDaemon) {
  const json j = get_json("/api/daemon");
  EXPECT_EQ(j["vgpus"].size(), 3u);
  EXPECT_GE(j["uptime_s"].get<double>(), 0.0);
  EXPECT_EQ(j["clients"], 0);
}

TEST_F(DashboardTest, MetricsInPrometheusTextFormat) {
  auto r = cli->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u)
      << r->get_header_value("Content-Type");
  EXPECT_NE(r->body.find("\nvgpud_vgpus 3\n"), std::string::npos);
  EXPECT_NE(r->body.find("# TYPE vgpud_event_latency_seconds histogram\n"), std::string::npos);
  EXPECT_NE(r->body.find("vgpud_flips_total{vgpu=\"1\",plane=\"primary\"}"), std::string::npos);
}

TEST_F(DashboardTest, UnknownPathsAndMethodsGetClearErrors) {
  auto r = cli->Get("/no/such/page");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "404 not found\n");
  auto up = cli->Get("/../../etc/passwd");
  ASSERT_TRUE(up);
  EXPECT_EQ(up->status, 404) << "nothing outside the web root";
  auto post = cli->Post("/api/vgpus", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
}

TEST_F(DashboardTest, GarbageAndHugeRequestsAreRefusedAndServingGoesOn) {
  static constexpr char kGarbage[] = "\x00\x01\xff garbage\r\n\r\n";  // NUL bytes included
  EXPECT_EQ(raw_request(dash->port(), std::string(kGarbage, sizeof kGarbage - 1)).rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(raw_request(dash->port(), "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 414 ", 0), 0u);
  EXPECT_EQ(raw_request(dash->port(), "GET / HTTP/1.1\r\nX: " + std::string(20000, 'b') + "\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u)
      << "a header line beyond 8 KiB";
  // A huge body is never read: refused before it (POST), or ignored (GET takes none).
  const std::string big = " /api/daemon HTTP/1.1\r\n" + headers() + "Content-Length: 100000000\r\n\r\n";
  EXPECT_EQ(raw_request(dash->port(), "POST" + big).rfind("HTTP/1.1 405 ", 0), 0u);
  EXPECT_EQ(raw_request(dash->port(), "GET" + big).rfind("HTTP/1.1 200 ", 0), 0u);
  raw_request(dash->port(), "");  // a client that hangs up at once
  // Still serving, and the daemon behind it too.
  EXPECT_EQ(get_json("/api/daemon")["vgpus"].size(), 3u);
  test::Conn c(d.path);
  c.hello();
}

TEST_F(DashboardTest, StopsPromptlyWithAKeepAliveClientConnected) {
  ASSERT_TRUE(cli->Get("/api/daemon"));  // httplib::Client keeps the connection open
  const auto t0 = std::chrono::steady_clock::now();
  dash.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 7s) << "at most the keep-alive timeout";
}

TEST(Dashboard, RefusesAMissingWebRootAndATakenPort) {
  auto none = web::Dashboard::start({"127.0.0.1", 0, "/nonexistent/web", "", {}, true, ""}, [] { return server::DaemonStatus{}; });
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().find("/nonexistent/web"), std::string::npos) << none.error();
  auto first = web::Dashboard::start({"127.0.0.1", 0, web::default_web_root(), "", {}, true, ""}, [] { return server::DaemonStatus{}; });
  ASSERT_TRUE(first) << first.error();
  auto second = web::Dashboard::start({"127.0.0.1", (*first)->port(), web::default_web_root(), "", {}, true, ""},
                                      [] { return server::DaemonStatus{}; });
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().find(std::to_string((*first)->port())), std::string::npos) << second.error();
}

}  // namespace
}  // namespace vgd
