// libvncserver's clients as RfbServer sees them: connect and gone hooks, references held while
// they are used, waking their output threads, and what they were sent.
#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>

#include "util/unique_fd.h"
#include "viewers/rfb_cursor.h"
#include "viewers/rfb_server.h"

#include <rfb/rfb.h>  // last: its C macros (TRUE, LOCK, ...) stay out of the headers above

namespace vgd::viewers {
namespace {

// Per client: our own duplicate of its socket. shutdown() through it stops a writer stuck on a
// client that reads nothing, and cannot hit a descriptor number libvncserver closed and the
// process reused meanwhile (libvncserver closes its copy before our hook runs).
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
  for (rfbClientPtr cl : admit) rfbStartOnHoldClient(cl);  // its input and output threads
}

void RfbServer::client_gone(rfbClientPtr cl) {
  auto* self = static_cast<RfbServer*>(cl->screen->screenData);
  count_sent(cl);
  const int sent = rfbStatGetSentBytes(cl);
  delete static_cast<ClientExtra*>(cl->clientData);
  cl->clientData = nullptr;
  const uint32_t n = --self->clients_;
  spdlog::info("vnc :{}: {} gone after {} bytes ({} client{} left)", self->port_, cl->host ? cl->host : "?", sent, n,
               n == 1 ? "" : "s");
  // Only rfbShutdownServer joins client threads, and only those of clients still listed: one
  // that ends on its own (this hook runs on it, after it left the list) would never be joined.
  if (!self->shutting_down_ && ::pthread_equal(::pthread_self(), cl->client_thread)) ::pthread_detach(::pthread_self());
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
