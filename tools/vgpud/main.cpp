// vgpud: hosts vGPUs with their guests and serves their displays to consumers (docs/protocol.md).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "config/daemon_config.h"
#include "monitor_views.h"
#include "server/host.h"
#include "server/server.h"
#include "server/status.h"
#include "viewers/vnc_stream.h"
#include "web/dashboard.h"

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

  auto host = vgd::server::Host::create(cfg);
  if (!host) {
    fmt::print(stderr, "vgpud: {}\n", host.error());
    return 1;
  }
  auto server = vgd::server::Server::create(**host, {cfg.socket, cfg.max_clients, true, cfg.socket_group});
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
                                               fmt::format("vgpud: vGPU {}", id)});
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
  auto monitor_views = vgd::vgpud::MonitorViews::start(**host, cfg.vnc);
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
        const vgd::viewers::VncStats st = vnc[i]->stats();
        s.vgpus[i].vnc = {st.port, st.clients, st.frames, st.updates, st.bytes_sent, st.cursor_moves, st.resizes};
      }
      if (views && s.host_display) views->describe(s.host_display->outputs);
      return s;
    };
    auto d = vgd::web::Dashboard::start({cfg.web.listen, static_cast<int>(cfg.web.port), web_root}, std::move(status));
    if (!d) {
      fmt::print(stderr, "vgpud: {}\n", d.error());
      return 1;
    }
    dashboard = std::move(*d);
    spdlog::info("dashboard: {}", dashboard->url());
  }
  (*host)->start_guests();
  const int rc = (*server)->run();
  dashboard.reset();  // no more status requests while the daemon winds down
  monitor_views->reset();
  vnc.clear();  // their connections close now, with the loop gone (each waits at most a reply timeout)
  (*host)->stop_guests();
  return rc;
}
