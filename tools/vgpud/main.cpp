// vgpud: hosts vGPUs with their guests and serves their displays to consumers (docs/protocol.md).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "config/daemon_config.h"
#include "server/host.h"
#include "server/server.h"

int main(int argc, char** argv) {
  CLI::App app{"vgpud: vGPUs with demo guests, their framebuffers served zero-copy with refresh events"};
  std::string config_path, socket_path, level = "info";
  app.add_option("-c,--config", config_path, "TOML configuration (default: three demo vGPUs with VNC and the web dashboard)")->check(CLI::ExistingFile);
  app.add_option("-s,--socket", socket_path, "socket path (default: $XDG_RUNTIME_DIR/vgpud.sock or /run/vgpud/vgpud.sock)");
  app.add_option("-l,--log-level", level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
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
  auto server = vgd::server::Server::create(**host, {cfg.socket, cfg.max_clients, true});
  if (!server) {
    fmt::print(stderr, "vgpud: {}\n", server.error());
    return 1;
  }
  {
    const std::lock_guard lk((*host)->lock());
    for (const auto& hv : (*host)->vgpus())
      spdlog::info("vgpu {}: {} running the {} workload at {}x{}", hv->vgpu->id(), hv->vgpu->type().name,
                   vgd::name(hv->spec.workload), hv->spec.mode.width, hv->spec.mode.height);
  }
  (*host)->start_guests();
  const int rc = (*server)->run();
  (*host)->stop_guests();
  return rc;
}
