#include "web/dashboard.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "web/access.h"
#include "web/api_json.h"
#include "web/prometheus.h"

namespace vgd::web {

namespace {

constexpr size_t kMaxBody = 64 * 1024;  // nothing here takes a body: refuse big ones early
constexpr size_t kThreads = 4;          // a page, a scraper and a test at once is plenty

void send_json(httplib::Response& res, const nlohmann::json& j, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(j.dump(2), "application/json");
}


std::string http_host(const std::string& h) { return h.find(':') != std::string::npos ? "[" + h + "]" : h; }

std::string reason(int status) {
  switch (status) {
    case 400: return "bad request";
    case 404: return "not found";
    case 405: return "method not allowed (only GET and HEAD)";
    case 413: return "request body too large";
    case 414: return "request URI too long";
    default: return status >= 500 ? "internal error" : "request refused";
  }
}

}  // namespace

struct Dashboard::Impl {
  DashboardOptions opt;
  StatusFn status;
  std::unique_ptr<Access> access;
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> finished{false};

  void routes() {
    http.Get("/api/daemon", [this](const httplib::Request&, httplib::Response& res) { send_json(res, daemon_json(status())); });
    http.Get("/api/outputs", [this](const httplib::Request&, httplib::Response& res) { send_json(res, outputs_json(status())); });
    http.Get("/api/vgpus", [this](const httplib::Request&, httplib::Response& res) { send_json(res, vgpus_json(status())); });
    // Up to 9 digits keeps stoul in range; longer ids fall through to the 404 below anyway.
    http.Get(R"(/api/vgpus/(\d{1,9}))", [this](const httplib::Request& req, httplib::Response& res) {
      const uint32_t id = static_cast<uint32_t>(std::stoul(req.matches[1].str()));
      const server::DaemonStatus s = status();
      if (const server::VgpuStatus* v = s.find(id)) return send_json(res, vgpu_json(*v));
      send_json(res, error_json(404, fmt::format("no vGPU {}", id)), 404);
    });
    // Only ever behind the token (when there is one): the pre-routing handler checked it.
    http.Get("/api/vnc", [this](const httplib::Request&, httplib::Response& res) {
      send_json(res, {{"password", opt.vnc_password.empty() ? nlohmann::json() : nlohmann::json(opt.vnc_password)}});
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(prometheus_text(status()) + access->metrics(), std::string(kPrometheusContentType));
    });
    // Every request, static files included, passes here first: access, then the method.
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!access->admit(req, res)) return httplib::Server::HandlerResponse::Handled;
      if (req.method == "GET" || req.method == "HEAD") return httplib::Server::HandlerResponse::Unhandled;
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      return httplib::Server::HandlerResponse::Handled;  // the error handler writes the body
    });
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;  // a handler already explained (e.g. an unknown vGPU)
      const std::string why = fmt::format("{} {}", res.status, reason(res.status));
      if (is_api_path(req.path)) return send_json(res, error_json(res.status, why), res.status);
      res.set_content(why + "\n", "text/plain; charset=utf-8");
    });
    http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("dashboard: {} {}: {}", req.method, req.path, what);
      send_json(res, error_json(500, "internal error"), 500);
    });
  }
};

std::string default_web_root() { return VGD_WEB_ROOT; }

Dashboard::Dashboard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Expected<std::unique_ptr<Dashboard>, std::string> Dashboard::start(DashboardOptions opt, StatusFn status) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(std::filesystem::path(opt.web_root) / "index.html", ec))
    return Unexpected(fmt::format("dashboard: no index.html under web root '{}' (build the project: it copies web/ there, "
                                  "or pass --web-root)", opt.web_root));
  auto impl = std::make_unique<Impl>();
  impl->opt = std::move(opt);
  impl->status = std::move(status);
  httplib::Server& http = impl->http;
  http.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  http.set_payload_max_length(kMaxBody);
  http.set_read_timeout(std::chrono::seconds(5));
  http.set_write_timeout(std::chrono::seconds(5));
  http.set_keep_alive_timeout(5);
  // httplib's default is SO_REUSEPORT, which lets a second daemon share the port silently:
  // SO_REUSEADDR only (a restart still rebinds at once; a port in use is an error).
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // ES modules must come with a JavaScript type or the browser refuses them.
  http.set_file_extension_and_mimetype_mapping("js", "text/javascript");
  http.set_file_extension_and_mimetype_mapping("mjs", "text/javascript");
  http.set_file_extension_and_mimetype_mapping("css", "text/css");
  http.set_file_extension_and_mimetype_mapping("html", "text/html; charset=utf-8");
  if (!http.set_mount_point("/", impl->opt.web_root))
    return Unexpected(fmt::format("dashboard: cannot serve '{}'", impl->opt.web_root));
  impl->access = std::make_unique<Access>(AccessOptions{
      impl->opt.token, impl->opt.metrics_auth, HostPolicy{impl->opt.listen, impl->opt.allowed_hosts}, impl->opt.port});
  impl->routes();

  if (impl->opt.port == 0) {
    const int p = http.bind_to_any_port(impl->opt.listen);
    if (p <= 0) return Unexpected(fmt::format("dashboard: cannot listen on {} (any port)", impl->opt.listen));
    impl->opt.port = p;
    impl->access->set_port(p);
  } else if (!http.bind_to_port(impl->opt.listen, impl->opt.port)) {
    return Unexpected(fmt::format("dashboard: cannot listen on {}:{} (in use? set [web] port)", impl->opt.listen,
                                  impl->opt.port));
  }
  Impl* self = impl.get();
  self->thread = std::thread([self] {
    if (!self->http.listen_after_bind()) spdlog::error("dashboard: the HTTP server stopped with an error");
    self->finished = true;
  });
  // stop() is a no-op until the listen loop runs: wait for it, so destruction never hangs.
  while (!http.is_running() && !self->finished) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<Dashboard>(new Dashboard(std::move(impl)));
}

Dashboard::~Dashboard() {
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int Dashboard::port() const { return impl_->opt.port; }

std::string Dashboard::url() const {
  // A wildcard address is no place to browse to: loopback reaches it.
  const std::string& l = impl_->opt.listen;
  const std::string h = l == "0.0.0.0" ? "127.0.0.1" : l == "::" ? "::1" : l;
  return fmt::format("http://{}:{}/", http_host(h), port());
}

std::string Dashboard::login_url() const {
  return impl_->opt.token.empty() ? url() : fmt::format("{}?token={}", url(), impl_->opt.token);
}

}  // namespace vgd::web
