// The virtual monitor's outputs over VNC (docs/direct-flip.md, "Watching the virtual monitor"):
// what direct flip put on each output, watchable on a host without a display.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/daemon_config.h"
#include "server/host.h"
#include "util/expected.h"
#include "viewers/monitor_stream.h"

namespace vgd::vgpud {

// Whose pages may open noVNC views on the VNC ports: the dashboard's, on the names it answers.
viewers::WebSocketAccess websocket_access(const DaemonConfig& cfg);

class MonitorViews {
 public:
  // One VNC server per output of the host's virtual monitor (none without one): output N on
  // base_port + 50 + N (VNC display :5N), any free port when base_port is 0.
  static Expected<std::unique_ptr<MonitorViews>, std::string> start(server::Host& host, const DaemonConfig& cfg);
  ~MonitorViews();  // the monitor stops offering before the servers go

  // Fills each served output's view_* fields (/api/outputs; the dashboard's output cards).
  void describe(std::vector<server::OutputStatus>& outputs) const;
  // The dashboard's port once bound: its pages may open views (viewers/ws_gate.h).
  void set_dashboard_port(int port);
  MonitorViews(const MonitorViews&) = delete;
  MonitorViews& operator=(const MonitorViews&) = delete;

 private:
  struct View {
    std::string output;
    uint32_t crtc = 0;
    std::unique_ptr<viewers::MonitorStream> stream;
  };
  // Shared with the monitor's frame listener, which may still be running when the listener is
  // replaced: the last one out frees the servers.
  using Views = std::vector<View>;

  MonitorViews(hostdisplay::VirtualMonitor& vmon, std::shared_ptr<Views> views);
  hostdisplay::VirtualMonitor* vmon_;
  std::shared_ptr<Views> views_;
};

}  // namespace vgd::vgpud
