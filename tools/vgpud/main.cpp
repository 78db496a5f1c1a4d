// vgpud: hosts vGPUs with their guests and serves their displays to consumers (docs/protocol.md).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <cstdio>

#include "config/daemon_config.h"
#include "config/viewer_access.h"
#include "monitor_views.h"
#include "server/host.h"
#include "server/server.h"
#include "server/status.h"
#include "viewers/vnc_stream.h"
#include "web/dashboard.h"
#include "web/viewer_status.h"

namespace {

// How to log in, on stdout (the log on stderr never holds a secret): the dashboard's URL with
// its token, and the VNC password (docs/viewers.md, "Access").
void print_login(const vgd::DaemonConfig& cfg, const vgd::MadeUpCredentials& made, const vgd::web::Dashboard* dash) {
  // Only what was made up here is shown: a configured secret stays in its file.
  if (dash)
    fmt::print("vgpud: dashboard: {}\n",
               made.web_token         ? dash->login_url() + " (token made up at start; set [web] token to keep one)"
               : cfg.web.token.empty() ? dash->url() + " (no token: [web] auth = \"none\")"
                                       : dash->url() + "?token=<[web] token from the configuration>");
  if (cfg.vnc.enabled)
    fmt::print("vgpud: VNC password: {}\n",
               made.vnc_password         ? cfg.vnc.password + " (made up at start; set [vnc] password to keep one)"
               : cfg.vnc.password.empty() ? std::string("none ([vnc] auth = \"none\")")
                                          : std::string("[vnc] password from the configuration"));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vgpud: vGPUs with demo guests, their framebuffers served zero-copy with refresh events"};
  std::string config_path, socket_path, level = "info";
  std::string web_root = vgd::web::default_web_root();
  app.add_option("-c,--config", config_path, "TOML configuration (default: three demo vGPUs with VNC and the web dashboard)")->check(CLI::ExistingFile);
  app.add_option("-s,--socket", socket_path, "socket path (default: $XDG_RUNTIME_DIR/vgpud.sock or /run/vgpud/vgpud.sock)");
  app.add_option("-l,--log-level", level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--web-root", web_root, "the dashboard's files (default: the build's web/ directory)")
      ->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_default_logger(spdlog::stderr_color_mt("vgpud"));
  spdlog::set_level(spdlog::level::from_str(level));

  // Descriptors in flight to consumers count against this limit (docs/protocol.md §1): take the
  // whole of what the hard limit allows (the daemon uses epoll, never select).
  if (rlimit r{}; ::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &r);
  }

  vgd::DaemonConfig cfg;
  if (!config_path.empty()) {
    auto loaded = vgd::load_daemon_config(config_path);
    if (!loaded) {
      fmt::print(stderr, "vgpud: {}\n", loaded.error());
      return 1;
    }
    cfg = std::move(*loaded);
  }
  if (!socket_path.empty()) cfg.socket = socket_path;
  if (cfg.socket.empty()) cfg.socket = vgd::default_socket_path();
  // Secure by default: a viewer without a configured password or token gets one made up now.
  const vgd::MadeUpCredentials made = vgd::fill_in_credentials(cfg);

  auto host = vgd::server::Host::create(cfg);
  if (!host) {
    fmt::print(stderr, "vgpud: {}\n", host.error());
    return 1;
  }
  auto server = vgd::server::Server::create(**host, {.socket_path = cfg.socket,
                                                     .max_clients = cfg.max_clients,
                                                     .handle_signals = true,
                                                     .socket_group = cfg.socket_group,
                                                     .hello_timeout_ms = cfg.hello_timeout_ms,
                                                     .max_clients_per_uid = cfg.max_clients_per_uid});
  if (!server) {
    fmt::print(stderr, "vgpud: {}\n", server.error());
    return 1;
  }
  for (const auto& hv : (*host)->vgpus())
    spdlog::info("vgpu {}: {} running the {} workload at {}x{}", hv->id(), hv->spec().type,
                 vgd::name(hv->spec().workload), hv->spec().mode.width, hv->spec().mode.height);
  // One VNC server per vGPU: a consumer of this daemon's socket like any other (it gets answers
  // once run() serves). vGPU N listens on base_port + N; base_port 0: any free port.
  std::vector<std::unique_ptr<vgd::viewers::VncStream>> vnc;
  if (cfg.vnc.enabled) {
    for (const auto& hv : (*host)->vgpus()) {
      const uint32_t id = hv->id();
      const int port = cfg.vnc.base_port ? static_cast<int>(cfg.vnc.base_port + id) : 0;
      auto s = vgd::viewers::VncStream::start({cfg.socket, id, cfg.vnc.listen, port, cfg.vnc.password,
                                               fmt::format("vgpud: vGPU {}", id), vgd::vgpud::websocket_access(cfg)});
      if (!s) {
        fmt::print(stderr, "vgpud: vGPU {}: VNC: {}\n", id, s.error());
        return 1;
      }
      const int p = (*s)->port();
      spdlog::info("vgpu {}: VNC on {}:{}{}", id, cfg.vnc.listen, p,
                   p >= 5900 && p < 6000 ? fmt::format(" (display :{})", p - 5900) : "");
      vnc.push_back(std::move(*s));
    }
  }
  // What direct flip put on the virtual monitor's outputs, over VNC as well.
  auto monitor_views = vgd::vgpud::MonitorViews::start(**host, cfg);
  if (!monitor_views) {
    fmt::print(stderr, "vgpud: {}\n", monitor_views.error());
    return 1;
  }
  // The dashboard (/, /api, /metrics): snapshots are taken on its HTTP threads.
  vgd::server::StatusCollector collector;
  std::unique_ptr<vgd::web::Dashboard> dashboard;
  if (cfg.web.enabled) {
    // Captures must outlive `dashboard` (reset below, before the rest is torn down).
    auto status = [&collector, &vnc, &views = *monitor_views, &h = **host, &srv = **server] {
      vgd::server::DaemonStatus s = collector.collect(h, srv);
      // vnc[i] serves the i-th vGPU: both follow the host's order.
      for (size_t i = 0; i < vnc.size() && i < s.vgpus.size(); ++i) {
        s.vgpus[i].vnc = vgd::web::viewer_status(vnc[i]->stats());
      }
      if (views && s.host_display) views->describe(s.host_display->outputs);
      return s;
    };
    auto d = vgd::web::Dashboard::start({cfg.web.listen, static_cast<int>(cfg.web.port), web_root, cfg.web.token,
                                         cfg.web.allowed_hosts, cfg.web.metrics_auth, cfg.vnc.password},
                                        std::move(status));
    if (!d) {
      fmt::print(stderr, "vgpud: {}\n", d.error());
      return 1;
    }
    dashboard = std::move(*d);
    // Bound now (on any free port with [web] port = 0): the dashboard's pages may open views on
    // the VNC ports from here on, and no page on another port of ours may (docs/security.md §5).
    for (auto& v : vnc) v->set_dashboard_port(dashboard->port());
    if (*monitor_views) (*monitor_views)->set_dashboard_port(dashboard->port());
    spdlog::info("dashboard: {}", dashboard->url());
  }
  print_login(cfg, made, dashboard.get());
  (*host)->start_guests();
  const int rc = (*server)->run();
  dashboard.reset();  // no more status requests while the daemon winds down
  monitor_views->reset();
  vnc.clear();  // their connections close now, with the loop gone (each waits at most a reply timeout)
  (*host)->stop_guests();
  return rc;
}
