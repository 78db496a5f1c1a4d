// One vGPU on VNC: an RFB server (libvncserver; its websocket endpoint on the same port serves
// noVNC) fed by a consumer of vgpud like any other — libvgd-client, events enabled, planes
// queried and mapped zero-copy on each refresh event, primary and sprite composed. Only tiles
// that changed since the last picture go out (only those inside the guest's damage hints when
// it gives them, docs/viewers.md); the cursor goes as a cursor shape and position
// for clients that take them (libvncserver draws it in for the others); a mode change is a
// desktop resize; a display that goes off shows a "display off" picture.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "util/expected.h"
#include "viewers/ws_gate.h"

namespace vgd::viewers {

struct VncOptions {
  std::string socket_path;           // vgpud's socket
  uint32_t vgpu = 1;
  std::string listen = "127.0.0.1";  // loopback by default
  int port = 5901;                   // 0: any free port (then port() tells which)
  std::string password;              // empty: no authentication (vgpud always has one unless told)
  std::string desktop_name;          // shown by clients
  WebSocketAccess websocket;         // whose pages may open noVNC views (viewers/ws_gate.h)
};

struct VncStats {
  int port = 0;
  uint32_t clients = 0;
  uint32_t width = 0, height = 0;
  bool display_off = false;
  uint64_t events = 0;         // refresh events handled
  uint64_t frames = 0;         // frames composed
  uint64_t damaged_tiles = 0;  // tiles found changed
  uint64_t hinted_frames = 0;  // frames composed while the guest gave damage hints
  uint64_t updates = 0;        // rectangles marked modified
  uint64_t cursor_shapes = 0, cursor_moves = 0, resizes = 0;
  uint64_t bytes_sent = 0;     // to all clients so far (libvncserver's counters)
  std::array<uint64_t, kWsRefusals> websocket_refused{};  // upgrades the port's door refused, by WsRefusal
};

class VncStream {  // one vGPU's RFB server and the consumer thread feeding it
 public:
  // Listens at once (an error when it cannot); the thread then connects to vgpud and keeps
  // reconnecting while the daemon is not answering (viewers see why in the picture).
  static Expected<std::unique_ptr<VncStream>, std::string> start(VncOptions opts);
  ~VncStream();  // stops its thread(s), closes clients and its connection to vgpud
  VncStream(const VncStream&) = delete;
  VncStream& operator=(const VncStream&) = delete;
  int port() const;
  VncStats stats() const;  // thread-safe
  // The dashboard's port once it is bound (any free port): its pages may open views from then
  // on (viewers/ws_gate.h).
  void set_dashboard_port(int port);

 private:
  struct Impl;
  explicit VncStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vgd::viewers
