// The door of a VNC port (docs/viewers.md, "Access"): it accepts connections itself and looks
// at what each says first before libvncserver gets it. A VNC client says nothing (the server
// speaks first) and passes after a moment; a browser's websocket upgrade (noVNC) passes only
// when its Host names us (DNS rebinding) and its Origin, if any, is one of our pages (the
// dashboard, or this port). A refused upgrade gets a 403 and is logged and counted by reason
// (vgpud_vnc_ws_refused_total, docs/viewers.md). The VNC password is asked either way, inside
// the RFB stream.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
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
  // Its pages may open views here. 0: no dashboard, or one whose port is not known yet (any
  // free port: WsGate::set_dashboard_port tells it once bound); only pages of this port then.
  int dashboard_port = 0;
};

// Why an upgrade was refused, as /metrics labels it (reason="host", "origin", "header").
enum class WsRefusal : uint8_t { Host, Origin, Header };
inline constexpr size_t kWsRefusals = 3;
inline constexpr std::array<std::string_view, kWsRefusals> kWsRefusalNames = {"host", "origin", "header"};

// Whether a page with this Origin may open a websocket on VNC port `port` (docs/security.md
// §5): an http:// page on one of our names, on this port or on the dashboard's
// (dashboard_port > 0). Pure.
bool page_may_open(std::string_view origin, const HostPolicy& hosts, int port, int dashboard_port);

// What the first bytes of a connection decide. Pure.
struct Opening {
  enum class Verdict : uint8_t { Pass, Wait, Refuse } verdict = Verdict::Pass;
  WsRefusal reason = WsRefusal::Host;  // Refuse: for the counters
  std::string why;                     // Refuse: for the log and the 403's body
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
  uint64_t refused(WsRefusal r) const { return refused_[static_cast<size_t>(r)].load(); }
  uint64_t refused() const;  // every reason
  // The dashboard's port once it is bound (0: none); its pages may open views from then on.
  void set_dashboard_port(int port) { dashboard_port_.store(port); }

 private:
  struct Pending;
  void run();
  // True when `p` is settled (handed on, refused or gone); false: look again later.
  bool settle(Pending& p);

  std::vector<UniqueFd> listeners_;
  int port_;
  HostPolicy hosts_;
  std::atomic<int> dashboard_port_;
  Hand hand_;
  UniqueFd wake_[2];  // a pipe: the destructor writes, the thread ends
  std::array<std::atomic<uint64_t>, kWsRefusals> refused_{};
  std::thread thread_;
};

}  // namespace vgd::viewers
