// libvncserver's clients as RfbServer sees them: connect and gone hooks, references held while
// they are used, waking their output threads, and what they were sent.
#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cstdlib>

#include "util/unique_fd.h"
#include "viewers/rfb_cursor.h"
#include "viewers/rfb_server.h"

#include <rfb/rfb.h>  // last: its C macros (TRUE, LOCK, ...) stay out of the headers above

namespace vgd::viewers {
namespace {

// Per client: our own duplicate of its socket. shutdown() through it stops a writer stuck on a
// client that reads nothing, and cannot hit a descriptor number libvncserver closed and the
// process reused meanwhile (libvncserver closes its copy before our hook runs).
// How long admit_clients() waits, per call, for libvncserver to mark a newcomer on hold.
constexpr auto kHoldMarkPoll = std::chrono::microseconds(200);
constexpr int kHoldMarkPolls = 50;

struct ClientExtra {
  UniqueFd sock;
  uint32_t counted = 0;  // libvncserver's byte count for it when last added to the total
};

// A client that takes the cursor's shape but not its position (noVNC among them) draws it at
// the local mouse. These viewers take no input: the guest moves its cursor, so such a client
// gets it drawn into the picture, like a client that takes no cursor at all. Its encodings are
// known by its first update request (SetEncodings comes before it).
void on_update_request(rfbClientPtr cl, rfbFramebufferUpdateRequestMsg*) {
  if (cl->enableCursorShapeUpdates && !cl->enableCursorPosUpdates) cl->enableCursorShapeUpdates = FALSE;
}

}  // namespace

int RfbServer::new_client(rfbClientPtr cl) {
  auto* self = static_cast<RfbServer*>(cl->screen->screenData);
#ifdef LIBVNCSERVER_WITH_WEBSOCKETS
  // libvncserver 0.9.14 frees a WebSockets client's request path in rfbCloseClient without
  // clearing it, and both of the client's threads call that when a browser goes away mid-update
  // (the reader's read fails, the writer's write fails): a double free that aborted the daemon.
  // Nothing here reads the path: free it now, so that both of those frees are free(nullptr).
  std::free(cl->wspath);
  cl->wspath = nullptr;
#endif
  cl->clientData = new ClientExtra{UniqueFd(::fcntl(cl->sock, F_DUPFD_CLOEXEC, 0))};
  cl->clientGoneHook = client_gone;
  cl->clientFramebufferUpdateRequestHook = on_update_request;
  const uint32_t n = ++self->clients_;
  spdlog::info("vnc :{}: {} connected ({} client{})", self->port_, cl->host ? cl->host : "?", n, n == 1 ? "" : "s");
  {
    const std::lock_guard lk(self->waiting_mu_);
    self->waiting_.push_back(cl);
  }
  if (self->on_client_) self->on_client_();
  return RFB_CLIENT_ON_HOLD;
}

void RfbServer::admit_clients() {
  std::vector<rfbClientPtr> admit;
  {
    const std::lock_guard lk(waiting_mu_);
    admit.swap(waiting_);
  }
  std::vector<rfbClientPtr> unmarked;
  for (rfbClientPtr cl : admit) {
    // libvncserver marks a client on hold on its listener thread only after new_client
    // returned. Started before that, the client ends up marked on hold with its threads
    // running: its output thread then never sends, and the viewer stays black (seen under
    // load). So a client is started once the mark is there.
    for (int i = 0; !__atomic_load_n(&cl->onHold, __ATOMIC_ACQUIRE) && i < kHoldMarkPolls; ++i)
      std::this_thread::sleep_for(kHoldMarkPoll);
    if (__atomic_load_n(&cl->onHold, __ATOMIC_ACQUIRE)) rfbStartOnHoldClient(cl);  // its threads
    else unmarked.push_back(cl);
  }
  if (!unmarked.empty()) {  // the listener thread is slow: the next call starts them
    {
      const std::lock_guard lk(waiting_mu_);
      waiting_.insert(waiting_.end(), unmarked.begin(), unmarked.end());
    }
    if (on_client_) on_client_();
  }
  reap_ended();
}

void RfbServer::client_gone(rfbClientPtr cl) {
  auto* self = static_cast<RfbServer*>(cl->screen->screenData);
  count_sent(cl);
  const int sent = rfbStatGetSentBytes(cl);
  delete static_cast<ClientExtra*>(cl->clientData);
  cl->clientData = nullptr;
#ifdef LIBVNCSERVER_WITH_WEBSOCKETS
  // 0.9.14 never frees a WebSockets client's context (about 45 KiB per browser visit); its
  // threads are done with it by now. Cleared, so that a libvncserver that does free it frees
  // nothing twice.
  std::free(cl->wsctx);
  cl->wsctx = nullptr;
#endif
  uint32_t n;
  {
    // Only rfbShutdownServer joins client threads, and only those of clients still listed: one
    // that ends on its own (this hook runs on it, after it left the list) is joined by us.
    const std::lock_guard lk(self->ended_mu_);
    if (!self->shutting_down_ && ::pthread_equal(::pthread_self(), cl->client_thread))
      self->ended_.push_back(::pthread_self());
    n = --self->clients_;
  }
  self->ended_cv_.notify_all();
  spdlog::info("vnc :{}: {} gone after {} bytes ({} client{} left)", self->port_, cl->host ? cl->host : "?", sent, n,
               n == 1 ? "" : "s");
}

void RfbServer::reap_ended() {
  std::vector<pthread_t> ended;
  {
    const std::lock_guard lk(ended_mu_);
    ended.swap(ended_);
  }
  // Each is past its gone hook, freeing its client: the join waits microseconds.
  for (pthread_t t : ended) ::pthread_join(t, nullptr);
}

void RfbServer::end_clients(std::chrono::milliseconds wait) {
  // Each must have its threads, to end through them (and rfbShutdownServer joins them).
  for (int i = 0; i < 100; ++i) {
    admit_clients();
    const std::lock_guard lk(waiting_mu_);
    if (waiting_.empty()) break;
  }
  const auto held = hold_clients();
  for (rfbClientPtr cl : held) cut_off(cl, nullptr);
  release_clients(held);
  {
    std::unique_lock lk(ended_mu_);
    ended_cv_.wait_for(lk, wait, [this] { return clients_.load() == 0; });
    shutting_down_ = true;
  }
  reap_ended();
}

void RfbServer::cut_off(rfbClientPtr cl, const char* why) {
  const auto* extra = static_cast<const ClientExtra*>(cl->clientData);
  if (!extra || !extra->sock) return;
  if (why) spdlog::warn("vnc: cutting off {}: {}", cl->host ? cl->host : "?", why);
  ::shutdown(extra->sock.get(), SHUT_RDWR);
}

std::vector<rfbClientPtr> RfbServer::hold_clients() const {
  std::vector<rfbClientPtr> out;
  rfbClientIteratorPtr it = rfbGetClientIterator(screen_);
  while (rfbClientPtr cl = rfbClientIteratorNext(it)) {
    rfbIncrClientRef(cl);
    out.push_back(cl);
  }
  rfbReleaseClientIterator(it);
  return out;
}

void RfbServer::release_clients(const std::vector<rfbClientPtr>& held) {
  for (rfbClientPtr cl : held) rfbDecrClientRef(cl);
}

// libvncserver counts a client's bytes in ints that wrap (a raw 1080p viewer sends 2 GiB in
// seconds): add what it sent since the last look, modulo 2^32, after each update it got.
void RfbServer::count_sent(rfbClientPtr cl) {
  auto* extra = static_cast<ClientExtra*>(cl->clientData);
  if (!extra) return;
  const auto now = static_cast<uint32_t>(rfbStatGetSentBytes(cl));
  static_cast<RfbServer*>(cl->screen->screenData)->bytes_ += now - extra->counted;
  extra->counted = now;
}

void RfbServer::poke_clients(bool moved) {
  const auto held = hold_clients();
  for (rfbClientPtr cl : held) {
    ::pthread_mutex_lock(&cl->updateMutex);
    if (moved && cl->enableCursorPosUpdates) cl->cursorWasMoved = TRUE;
    ::pthread_cond_signal(&cl->updateCond);
    ::pthread_mutex_unlock(&cl->updateMutex);
  }
  release_clients(held);
}

void RfbServer::reap_cursors() {
  if (retired_.empty()) return;
  // A client sending a cursor holds its send lock for the whole update: once each lock has
  // been free at some moment after the swap, nobody can still read a retired cursor.
  const auto held = hold_clients();
  bool idle = true;
  for (rfbClientPtr cl : held) {
    if (::pthread_mutex_trylock(&cl->sendMutex) != 0) {
      idle = false;
      break;
    }
    ::pthread_mutex_unlock(&cl->sendMutex);
  }
  release_clients(held);
  if (!idle) return;
  for (rfbCursor* c : retired_) free_cursor(c);
  retired_.clear();
}

}  // namespace vgd::viewers
