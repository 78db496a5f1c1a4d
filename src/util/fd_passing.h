// Bytes and file descriptors on one sendmsg/recvmsg (SCM_RIGHTS), for every socket that passes
// descriptors: the consumer protocol and a VM's proxy device. Receiving takes ownership of every
// descriptor that came before the caller looks at anything else, so none can leak.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <span>
#include <vector>

#include "util/unique_fd.h"

namespace vgd {

// The most descriptors one message may carry here.
inline constexpr size_t kMaxPassedFds = 16;

// One sendmsg of `iov` with `fds` (at most kMaxPassedFds) attached; MSG_NOSIGNAL, so a peer that
// went away is an error (EPIPE), not a signal. Returns what sendmsg returns.
ssize_t send_with_fds(int sock, std::span<const iovec> iov, std::span<const int> fds);
inline ssize_t send_with_fds(int sock, std::span<const std::byte> bytes, std::span<const int> fds) {
  const iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  return send_with_fds(sock, std::span<const iovec>(&iov, 1), fds);
}

struct Received {
  ssize_t n = 0;        // what recvmsg returned (-1: see errno)
  int msg_flags = 0;    // MSG_TRUNC, MSG_CTRUNC (more than max_fds came; the rest were dropped)
};
// One recvmsg into `buf` with `flags` (MSG_CMSG_CLOEXEC is always added); up to `max_fds`
// (at most kMaxPassedFds) descriptors are appended to `fds`.
Received recv_with_fds(int sock, std::span<std::byte> buf, int flags, size_t max_fds, std::vector<UniqueFd>& fds);

}  // namespace vgd
