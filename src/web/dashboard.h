// The dashboard: vgpud's status over HTTP (cpp-httplib) on its own thread.
//   /                 the page (web_root: index.html, dashboard.js, noVNC under /novnc/)
//   /api/daemon       daemon counters and the vGPU list (JSON)
//   /api/vgpus        every vGPU in full; /api/vgpus/<id> one (404 JSON for an unknown id)
//   /api/outputs      the host display's outputs and the vGPU on each (direct flip)
//   /api/vnc          the VNC password, for the page's noVNC views (never without the token)
//   /metrics          Prometheus text format
// Every request must pass web/access.h first (Host, Origin, the access token: docs/viewers.md,
// "Access"); refusals are 401/403 with the reason.
// Anything else, or a request httplib cannot parse, gets a 4xx with a short reason; a bad
// request only ever ends its own connection. Only GET and HEAD are served.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/status.h"
#include "util/expected.h"

namespace vgd::web {

struct DashboardOptions {
  std::string listen = "127.0.0.1";  // loopback unless told otherwise
  int port = 0;                      // 0: any free port
  std::string web_root;              // the page's files (the build's web/ directory)
  std::string token;                 // the access token; empty: none asked ([web] auth = "none")
  std::vector<std::string> allowed_hosts;  // Host names besides listen and loopback
  bool metrics_auth = true;          // false: /metrics without the token
  std::string vnc_password;          // handed to the page by /api/vnc (empty: VNC has none)
};

// Where the build copied the page and noVNC (the daemon's default web root).
std::string default_web_root();

class Dashboard {
 public:
  // Called on the HTTP threads, possibly concurrently, once per /api or /metrics request.
  using StatusFn = std::function<server::DaemonStatus()>;

  // Listening when it returns: fails (with the reason) if web_root is not a directory or the
  // address cannot be bound.
  static Expected<std::unique_ptr<Dashboard>, std::string> start(DashboardOptions opt, StatusFn status);
  ~Dashboard();  // stops serving and joins the thread
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  int port() const;
  std::string url() const;  // http://<listen>:<port>/
  std::string login_url() const;  // url() with ?token=<token> (url() when there is none)

 private:
  struct Impl;
  explicit Dashboard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vgd::web
