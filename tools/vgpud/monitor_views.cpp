#include "monitor_views.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "web/viewer_status.h"

namespace vgd::vgpud {

viewers::WebSocketAccess websocket_access(const DaemonConfig& cfg) {
  if (!cfg.web.enabled) return {};
  // The dashboard on any free port (0) tells its port only once bound (set_dashboard_port):
  // until then only pages of each VNC port itself may open views there.
  return {cfg.web.allowed_hosts, static_cast<int>(cfg.web.port)};
}

Expected<std::unique_ptr<MonitorViews>, std::string> MonitorViews::start(server::Host& host, const DaemonConfig& cfg) {
  const VncConfig& vnc = cfg.vnc;
  server::DisplayLinks* links = host.links();
  hostdisplay::VirtualMonitor* vmon = links ? links->virtual_monitor() : nullptr;
  if (!vmon || !vnc.enabled) return std::unique_ptr<MonitorViews>();
  const auto crtcs = links->output_crtcs();
  const auto outputs = links->outputs();
  auto views = std::make_shared<Views>();
  for (size_t i = 0; i < crtcs.size() && i < outputs.size(); ++i) {
    const auto& [name, crtc] = crtcs[i];
    const uint32_t w = outputs[i].width ? outputs[i].width : 1024, h = outputs[i].height ? outputs[i].height : 768;
    const int port = vnc.base_port ? static_cast<int>(vnc.base_port + 51 + i) : 0;
    auto s = viewers::MonitorStream::start(
        {vnc.listen, port, vnc.password, fmt::format("vgpud: host output {}", name), websocket_access(cfg)}, w, h);
    if (!s) return Unexpected(fmt::format("host output {}: VNC: {}", name, s.error()));
    const int p = (*s)->port();
    spdlog::info("host output {}: VNC on {}:{}{}", name, vnc.listen, p,
                 p >= 5900 && p < 6000 ? fmt::format(" (display :{})", p - 5900) : "");
    (*s)->offer(vmon->scanout(crtc).image);
    views->push_back({name, crtc, std::move(*s)});
  }
  vmon->set_frame_listener([views, vmon](uint32_t crtc, uint64_t) {
    for (const View& v : *views)
      if (v.crtc == crtc) v.stream->offer(vmon->scanout(crtc).image);
  });
  return std::unique_ptr<MonitorViews>(new MonitorViews(*vmon, std::move(views)));
}

MonitorViews::MonitorViews(hostdisplay::VirtualMonitor& vmon, std::shared_ptr<Views> views)
    : vmon_(&vmon), views_(std::move(views)) {}

MonitorViews::~MonitorViews() { vmon_->set_frame_listener(nullptr); }

void MonitorViews::set_dashboard_port(int port) {
  for (const View& v : *views_) v.stream->set_dashboard_port(port);
}

void MonitorViews::describe(std::vector<server::OutputStatus>& outputs) const {
  for (server::OutputStatus& o : outputs)
    for (const View& v : *views_)
      if (v.output == o.name) {
        o.view_port = v.stream->port();
        o.view_clients = v.stream->clients();
        o.view_pictures = v.stream->pictures_sent();
        o.view_ws_refused = web::websocket_refusals(v.stream->websocket_refused());
      }
}

}  // namespace vgd::vgpud
