#include "proto/packet.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace vgd::proto {

Packet make_packet(uint16_t type, uint32_t seq, uint32_t vgpu) {
  Packet p;
  p.header.type = type;
  p.header.seq = seq;
  p.header.vgpu = vgpu;
  return p;
}

Packet make_error(const Header& request, Status code, std::string_view message) {
  Packet p = make_packet(kError, request.seq, request.vgpu);
  ErrorBody e;
  e.code = static_cast<int32_t>(code);
  e.length = static_cast<uint32_t>(std::min(message.size(), sizeof e.message));
  std::memcpy(e.message, message.data(), e.length);
  p.append(e);
  return p;
}

std::string error_text(const Packet& p) {
  ErrorBody e;
  if (!p.read(e)) return {};
  return std::string(e.message, std::min<size_t>(e.length, sizeof e.message));
}

Status error_code(const Packet& p) {
  ErrorBody e;
  return p.read(e) ? static_cast<Status>(e.code) : Status::Protocol;
}

Expected<size_t, std::string> send_packet(int sock, const Packet& p) {
  if (sizeof(Header) + p.body.size() > kMaxPacket) return Unexpected(fmt::format("packet of {} bytes is too large", p.body.size()));
  if (p.fds.size() > kMaxFds) return Unexpected(fmt::format("{} descriptors is too many", p.fds.size()));
  iovec iov[2] = {{const_cast<Header*>(&p.header), sizeof(Header)},
                  {const_cast<std::byte*>(p.body.data()), p.body.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = p.body.empty() ? 1 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!p.fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * p.fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * p.fds.size());
    int* out = reinterpret_cast<int*>(CMSG_DATA(c));
    for (size_t i = 0; i < p.fds.size(); ++i) out[i] = p.fds[i].get();
  }
  const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  if (n < 0) return Unexpected(fmt::format("send: {}", std::strerror(errno)));
  return static_cast<size_t>(n);
}

RecvResult recv_packet(int sock, Packet& out, std::string& why) {
  out = Packet{};
  // One receive buffer per thread: a packet is copied out of it at its real size, so a 64 KiB
  // allocation per message (most are a few dozen bytes) is not needed.
  thread_local std::vector<std::byte> buf(kMaxPacket);
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return RecvResult::WouldBlock;
    why = fmt::format("receive: {}", std::strerror(errno));
    return errno == ECONNRESET ? RecvResult::Closed : RecvResult::Failed;
  }
  // Take ownership of every descriptor first, so none leaks whatever else is wrong.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* fds = reinterpret_cast<const int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; ++i) out.fds.emplace_back(fds[i]);
  }
  if (n == 0) {
    // SEQPACKET reads an empty packet and the peer's close alike; only a close shuts us down.
    pollfd p{sock, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) != 0 && (p.revents & (POLLRDHUP | POLLHUP))) return RecvResult::Closed;
    why = "empty packet";
    return RecvResult::Malformed;
  }
  // Whatever else is wrong, a header that arrived is kept, so an error reply can echo its seq
  // and vGPU (docs/protocol.md §6).
  if (static_cast<size_t>(n) >= sizeof(Header)) std::memcpy(&out.header, buf.data(), sizeof(Header));
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    why = msg.msg_flags & MSG_TRUNC ? "packet larger than 64 KiB" : "too many descriptors";
    return RecvResult::Malformed;
  }
  if (static_cast<size_t>(n) < sizeof(Header)) {
    why = fmt::format("packet of {} bytes is shorter than the header", n);
    return RecvResult::Malformed;
  }
  if (out.header.magic != kMagic) {
    why = fmt::format("bad magic {:#010x}", out.header.magic);
    return RecvResult::Malformed;
  }
  if (out.header.version != kVersion) {
    why = fmt::format("protocol version {} (this end speaks {})", out.header.version, kVersion);
    return RecvResult::Malformed;
  }
  if (out.fds.size() > kMaxFds) {
    why = "too many descriptors";
    return RecvResult::Malformed;
  }
  out.body.assign(buf.begin() + sizeof(Header), buf.begin() + n);
  return RecvResult::Ok;
}

}  // namespace vgd::proto
