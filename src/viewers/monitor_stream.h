// A VNC server showing pictures it is handed: vgpud's view of what a virtual monitor's output
// scans out (docs/direct-flip.md, "Watching the virtual monitor"), so direct flip can be watched
// on a host without a display. offer() keeps only the newest picture and never waits for a
// client; the stream's own thread sends what changed (16-pixel tiles, as VncStream does).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "fb/image.h"
#include "util/expected.h"
#include "viewers/rfb_server.h"

namespace vgd::viewers {

class MonitorStream {
 public:
  // Listens as `o` says with a width × height picture saying "no picture yet".
  static Expected<std::unique_ptr<MonitorStream>, std::string> start(const RfbOptions& o, uint32_t width,
                                                                     uint32_t height);
  ~MonitorStream();  // stops the thread, then drops every client
  MonitorStream(const MonitorStream&) = delete;
  MonitorStream& operator=(const MonitorStream&) = delete;

  // The newest picture (null: the output is off). Any thread; replaces one not yet sent.
  void offer(std::shared_ptr<const fb::Image> picture);
  int port() const;
  uint32_t clients() const;  // connected now
  uint64_t pictures_sent() const;  // pictures that changed what clients have
  std::array<uint64_t, kWsRefusals> websocket_refused() const;  // upgrades refused at the door, by WsRefusal
  void set_dashboard_port(int port);  // once the dashboard is bound (RfbServer::set_dashboard_port)

 private:
  struct Impl;
  explicit MonitorStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vgd::viewers
