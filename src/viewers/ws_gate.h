// The door of a VNC port (docs/viewers.md, "Access"): it accepts connections itself and looks
// at what each says first before libvncserver gets it. A VNC client says nothing (the server
// speaks first) and passes after a moment; a browser's websocket upgrade (noVNC) passes only
// when its Host names us (DNS rebinding) and its Origin, if any, is one of our pages (the
// dashboard, or this port). A refused upgrade gets a 403 and is logged and counted. The VNC
// password is asked either way, inside the RFB stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/http_host.h"
#include "util/unique_fd.h"

namespace vgd::viewers {

struct WebSocketAccess {
  std::vector<std::string> allowed_hosts;  // Host names besides the listen address and loopback
  // Its pages may open views here. 0: no dashboard (only pages of this port); -1: a dashboard
  // on a port not known yet (any port of our names).
  int dashboard_port = 0;
};

// What the first bytes of a connection decide. Pure.
struct Opening {
  enum class Verdict : uint8_t { Pass, Wait, Refuse } verdict = Verdict::Pass;
  std::string why;  // Refuse: for the log and the 403's body
};
Opening judge_opening(std::string_view first_bytes, const HostPolicy& hosts, int port, int dashboard_port);

class WsGate {
 public:
  using Hand = std::function<void(UniqueFd)>;  // a connection that may go on to libvncserver
  // Serves `listeners` (bound and listening) on its own thread.
  WsGate(std::vector<UniqueFd> listeners, int port, HostPolicy hosts, int dashboard_port, Hand hand);
  ~WsGate();  // stops accepting, joins, closes connections not yet handed on
  WsGate(const WsGate&) = delete;
  WsGate& operator=(const WsGate&) = delete;
  uint64_t refused() const { return refused_.load(); }

 private:
  struct Pending;
  void run();
  // True when `p` is settled (handed on, refused or gone); false: look again later.
  bool settle(Pending& p);

  std::vector<UniqueFd> listeners_;
  int port_;
  HostPolicy hosts_;
  int dashboard_port_;
  Hand hand_;
  UniqueFd wake_[2];  // a pipe: the destructor writes, the thread ends
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace vgd::viewers
