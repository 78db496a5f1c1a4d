// Who gets a connection slot, and for how long without a Hello (docs/security.md §3): the
// max_clients and max_clients_per_uid refusals at accept, and the Hello deadline, one timerfd
// in the epoll set armed for the earliest deadline while some client is ungreeted.
#include <spdlog/spdlog.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "server/server.h"

namespace vgd::server {
namespace {

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

bool Server::refuse(const Peer& peer) {
  if (clients_.size() >= opt_.max_clients) {
    ++stats_.refused_connections;
    spdlog::warn("client pid {} uid {} refused: {} clients already (max_clients)", peer.pid, peer.uid, clients_.size());
    return true;
  }
  // The daemon's own viewers are not anyone's: they neither count nor are refused here.
  if (opt_.max_clients_per_uid == 0 || peer.pid == self_.pid) return false;
  const auto same_uid = static_cast<size_t>(std::count_if(clients_.begin(), clients_.end(), [&](const auto& kv) {
    return kv.second->peer.uid == peer.uid && kv.second->peer.pid != self_.pid;
  }));
  if (same_uid < opt_.max_clients_per_uid) return false;
  ++stats_.uid_refused_connections;
  spdlog::warn("client pid {} uid {} refused: uid {} has {} connections already (max_clients_per_uid)", peer.pid,
               peer.uid, peer.uid, same_uid);
  return true;
}

void Server::expect_hello(Client& c) {
  ++ungreeted_;
  if (!hello_timer_) return;
  c.hello_deadline_ns = monotonic_ns() + int64_t{opt_.hello_timeout_ms} * 1'000'000;
  // Deadlines come in the order clients do: with others waiting, the timer is set for an earlier one.
  if (ungreeted_ == 1) arm_hello_timer(c.hello_deadline_ns);
}

void Server::hello_done(Client& c) {
  c.hello_deadline_ns = 0;
  if (--ungreeted_ == 0 && hello_timer_) arm_hello_timer(0);  // nothing to wait for: no wake-ups
}

void Server::hello_timer_fired() {
  uint64_t expirations = 0;
  (void)!::read(hello_timer_.get(), &expirations, sizeof expirations);  // EAGAIN: disarmed since
  const int64_t now = monotonic_ns();
  std::vector<int> late;
  int64_t next = 0;
  for (const auto& [fd, c] : clients_) {
    if (c->greeted) continue;
    if (c->hello_deadline_ns <= now)
      late.push_back(fd);
    else if (next == 0 || c->hello_deadline_ns < next)
      next = c->hello_deadline_ns;
  }
  for (const int fd : late) {
    const Client& c = *clients_.at(fd);
    spdlog::warn("client pid {} uid {} sent no Hello within {} ms (hello_timeout_ms), closing it", c.peer.pid,
                 c.peer.uid, opt_.hello_timeout_ms);
    {
      const Locked lk(stats_mu_);
      ++stats_.hello_timeouts;
    }
    drop(fd);  // disarms the timer when it was the last one waiting
  }
  if (next != 0) arm_hello_timer(next);
}

void Server::arm_hello_timer(int64_t deadline_ns) {
  itimerspec when{};
  when.it_value.tv_sec = deadline_ns / 1'000'000'000;
  when.it_value.tv_nsec = deadline_ns % 1'000'000'000;
  if (::timerfd_settime(hello_timer_.get(), TFD_TIMER_ABSTIME, &when, nullptr) != 0)
    spdlog::error("timerfd_settime for the Hello deadline: {}", std::strerror(errno));
}

}  // namespace vgd::server
