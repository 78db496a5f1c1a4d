// One libvncserver screen, threaded (every client gets an input and an output thread, so a slow
// client only delays itself), owned with RAII. Private to the viewers layer: VncStream drives it
// from one thread; libvncserver's threads read the framebuffer and the cursor meanwhile.
#pragma once

#include <pthread.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fb/image.h"
#include "util/expected.h"
#include "viewers/damage.h"
#include "viewers/frame_grab.h"
#include "viewers/ws_gate.h"

struct _rfbScreenInfo;
struct _rfbClientRec;
struct rfbCursor;

namespace vgd::viewers {

struct RfbOptions {
  std::string listen = "127.0.0.1";
  int port = 5901;  // 0: any free port
  std::string password;  // empty: no VNC authentication (the daemon makes one up: config/viewer_access.h)
  std::string desktop_name;
  WebSocketAccess websocket;  // who may open a websocket here (viewers/ws_gate.h)
};

class RfbServer {
 public:
  // Listens (IPv4 on `listen`, and IPv6 on the same port: ::1 for a loopback address, :: for
  // 0.0.0.0) with a width × height framebuffer. `on_client` runs on libvncserver's thread when
  // a client connects (the stream then composes a fresh picture).
  static Expected<std::unique_ptr<RfbServer>, std::string> start(const RfbOptions& o, uint32_t width,
                                                                 uint32_t height, std::function<void()> on_client);
  ~RfbServer();  // drops every client, joins libvncserver's threads, frees everything
  RfbServer(const RfbServer&) = delete;
  RfbServer& operator=(const RfbServer&) = delete;

  int port() const { return port_; }
  uint32_t width() const { return width_.load(); }
  uint32_t height() const { return height_.load(); }
  uint32_t clients() const { return clients_.load(); }
  uint64_t bytes_sent() const { return bytes_.load(); }  // to every client so far, gone ones included
  uint64_t websocket_refused() const { return gate_ ? gate_->refused() : 0; }  // 403s at the port's door
  std::array<uint64_t, kWsRefusals> websocket_refusals() const;                 // the same by WsRefusal
  // The dashboard's port once it is bound: its pages may open views from then on (ws_gate.h).
  void set_dashboard_port(int port) {
    if (gate_) gate_->set_dashboard_port(port);
  }

  // A new framebuffer of the picture's size holding it: clients that take desktop-resize get
  // the new size, all get the whole picture.
  void resize(const fb::Image& picture);
  // Copies `rects` of `picture` (the framebuffer's size) into the framebuffer and marks them
  // for every client. False when it had to wait (see update_lock) — nothing was written; call
  // again with the next picture.
  bool update(const fb::Image& picture, const std::vector<Rect>& rects);
  // The cursor shape (nullopt: none) and the pointer position (its hotspot's spot on screen).
  bool set_cursor(const std::optional<CursorImage>& c);
  void move_pointer(int32_t x, int32_t y);
  // Frees replaced cursors once no client can still be sending one of them (call now and then).
  void reap_cursors();
  // Starts the clients that connected since the last call. A newcomer waits on hold (its
  // handshake unanswered) until the picture and cursor are current, so that its first update
  // is not a stale frame: call after composing for it.
  void admit_clients();

 private:
  RfbServer() = default;
  class ClientLocks;
  static int new_client(_rfbClientRec* cl);  // enum rfbNewClientAction
  static void client_gone(_rfbClientRec* cl);
  static void count_sent(_rfbClientRec* cl);  // on the client's output thread, after each update
  // Every connected client, each with a reference held (libvncserver will not free it).
  std::vector<_rfbClientRec*> hold_clients() const;
  static void release_clients(const std::vector<_rfbClientRec*>& held);
  // Wakes the clients' output threads (they sleep on a condition that only marking a region
  // signals; a new cursor shape or position does not).
  void poke_clients(bool moved);
  // True when `locks` got every client it asked for; otherwise notes since when writes are
  // held back, and past a limit cuts off the clients that hold them back.
  bool quiesce_drawers(ClientLocks& locks);
  // Cuts off a client whose socket has taken nothing for too long (its writer is stuck).
  static void cut_off(_rfbClientRec* cl, const char* why);
  // Joins the threads of clients that ended on their own (see client_gone).
  void reap_ended();
  // The destructor's first half: every client cut off, and gone within `wait`.
  void end_clients(std::chrono::milliseconds wait);

  _rfbScreenInfo* screen_ = nullptr;
  std::unique_ptr<WsGate> gate_;  // accepts the connections (libvncserver listens on nothing)
  std::unique_ptr<uint32_t[]> fb_;
  std::vector<rfbCursor*> retired_;  // replaced cursors a client may still be sending
  rfbCursor* cursor_ = nullptr;      // the one on the screen (owned here, not by libvncserver)
  std::unique_ptr<char*[]> passwords_;
  std::string password_, desktop_name_, listen6_;
  std::function<void()> on_client_;
  std::mutex waiting_mu_;
  std::vector<_rfbClientRec*> waiting_;  // on hold until admit_clients()
  int port_ = 0;
  std::atomic<uint32_t> width_{0}, height_{0}, clients_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<bool> shutting_down_{false};  // libvncserver joins the clients still listed
  // A client's gone hook runs on its own input thread, as the thread ends: it queues the thread
  // here to be joined later (by reap_ended()), once it has freed the client.
  std::mutex ended_mu_;
  std::condition_variable ended_cv_;  // a client left: end_clients() waits on it
  std::vector<pthread_t> ended_;
  std::optional<std::chrono::steady_clock::time_point> held_back_since_;  // updates deferred since
};

}  // namespace vgd::viewers
