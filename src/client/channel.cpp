#include "client/channel.h"

#include <fmt/format.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace vgd::client::detail {

Unexpected<Error> Channel::fail(Error e) {
  broken_ = e;
  sock_.reset();
  return Unexpected(std::move(e));
}

Unexpected<Error> Channel::lost() {
  if (broken_) return Unexpected(*broken_);
  proto::Packet unsolicited;
  std::string why;
  const proto::RecvResult r = proto::recv_packet(sock_.get(), unsolicited, why);
  return fail({proto::Status::Protocol, r == proto::RecvResult::Ok ? "unsolicited message from the daemon"
                                                                   : "the daemon closed the connection"});
}

Result<proto::Packet> Channel::request(proto::Packet req) {
  if (broken_) return Unexpected(*broken_);
  req.header.seq = next_seq_++;
  const uint16_t type = req.header.type;
  if (auto sent = proto::send_packet(sock_.get(), req); !sent) return fail({proto::Status::Protocol, sent.error()});

  const auto deadline = std::chrono::steady_clock::now() + reply_timeout_;
  proto::Packet reply;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{sock_.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail({proto::Status::Protocol, fmt::format("poll: {}", std::strerror(errno))});
    if (n == 0)
      return fail({proto::Status::Protocol, fmt::format("no reply to request {} within {} ms", req.header.seq,
                                                        reply_timeout_.count())});
    std::string why;
    const proto::RecvResult r = proto::recv_packet(sock_.get(), reply, why);
    if (r == proto::RecvResult::WouldBlock) continue;
    if (r == proto::RecvResult::Closed) return fail({proto::Status::Protocol, "the daemon closed the connection"});
    if (r != proto::RecvResult::Ok) return fail({proto::Status::Protocol, fmt::format("bad reply: {}", why)});
    break;
  }

  if (reply.header.seq != req.header.seq)
    return fail({proto::Status::Protocol,
                 fmt::format("reply carries seq {}, the request was seq {}", reply.header.seq, req.header.seq)});
  if (reply.header.type == proto::kError) {
    // A code is a negated errno (docs/protocol.md §6); without one nothing was said.
    proto::ErrorBody body;
    if (!reply.read(body) || body.code >= 0)
      return fail({proto::Status::Protocol, fmt::format("malformed error reply to a request of type {:#06x}", type)});
    Error e{static_cast<proto::Status>(body.code), proto::error_text(reply)};
    if (e.message.empty()) e.message = fmt::format("refused a request of type {:#06x} without saying why", type);
    // The daemon closes the connection after a Protocol error: nothing more will come.
    if (e.code == proto::Status::Protocol) return fail(std::move(e));
    return Unexpected(std::move(e));
  }
  if (reply.header.type != (type | proto::kReplyBit))
    return fail({proto::Status::Protocol,
                 fmt::format("reply type {:#06x} to a request of type {:#06x}", reply.header.type, type)});
  return reply;
}

}  // namespace vgd::client::detail
