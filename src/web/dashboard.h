// The dashboard: vgpud's status over HTTP (cpp-httplib) on its own thread.
//   /                 the page (web_root: index.html, dashboard.js, noVNC under /novnc/)
//   /api/daemon       daemon counters and the vGPU list (JSON)
//   /api/vgpus        every vGPU in full; /api/vgpus/<id> one (404 JSON for an unknown id)
//   /api/outputs      the host display's outputs and the vGPU on each (direct flip)
//   /metrics          Prometheus text format
// Anything else, or a request httplib cannot parse, gets a 4xx with a short reason; a bad
// request only ever ends its own connection. Only GET and HEAD are served.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server/status.h"
#include "util/expected.h"

namespace vgd::web {

struct DashboardOptions {
  std::string listen = "127.0.0.1";  // loopback unless told otherwise
  int port = 0;                      // 0: any free port
  std::string web_root;              // the page's files (the build's web/ directory)
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

 private:
  struct Impl;
  explicit Dashboard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vgd::web
