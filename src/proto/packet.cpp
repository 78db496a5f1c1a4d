#include "proto/packet.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "util/fd_passing.h"

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
  const iovec iov[2] = {{const_cast<Header*>(&p.header), sizeof(Header)},
                        {const_cast<std::byte*>(p.body.data()), p.body.size()}};
  int fds[kMaxFds];
  for (size_t i = 0; i < p.fds.size(); ++i) fds[i] = p.fds[i].get();
  const ssize_t n = send_with_fds(sock, std::span(iov, p.body.empty() ? 1 : 2), std::span(fds, p.fds.size()));
  if (n < 0) return Unexpected(fmt::format("send: {}", std::strerror(errno)));
  return static_cast<size_t>(n);
}

RecvResult recv_packet(int sock, Packet& out, std::string& why) {
  out = Packet{};
  // One receive buffer per thread: a packet is copied out of it at its real size, so a 64 KiB
  // allocation per message (most are a few dozen bytes) is not needed.
  thread_local std::vector<std::byte> buf(kMaxPacket);
  // Takes ownership of every descriptor first, so none leaks whatever else is wrong.
  const Received r = recv_with_fds(sock, buf, MSG_DONTWAIT, kMaxFds, out.fds);
  const ssize_t n = r.n;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return RecvResult::WouldBlock;
    why = fmt::format("receive: {}", std::strerror(errno));
    return errno == ECONNRESET ? RecvResult::Closed : RecvResult::Failed;
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
  if (r.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
    why = r.msg_flags & MSG_TRUNC ? "packet larger than 64 KiB" : "too many descriptors";
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
