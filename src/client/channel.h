// Private to libvgd-client: the socket and the request/reply exchange that a Connection and
// its VgpuSessions share (shared_ptr, so a session outliving its Connection stays valid).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>

#include "client/error.h"
#include "proto/packet.h"
#include "util/unique_fd.h"

namespace vgd::client::detail {

class Channel {
 public:
  Channel(UniqueFd sock, std::chrono::milliseconds reply_timeout)
      : sock_(std::move(sock)), reply_timeout_(reply_timeout) {}

  // Sends `request` (its seq is assigned here) and waits for its reply. The reply must carry
  // the same seq and type | kReplyBit, or be an error packet, which comes back as its Error.
  // Anything else — and a lost connection or a timeout — breaks the channel: every later call
  // fails with the same Error without touching the socket, since a late reply would be taken
  // for the next request's.
  Result<proto::Packet> request(proto::Packet request);

  bool broken() const { return broken_.has_value(); }
  // The socket (-1 once broken), to watch while waiting for something else: between requests
  // the daemon sends nothing, so a readable or hung-up socket means it is gone.
  int fd() const { return sock_.get(); }
  // Breaks the channel after fd() turned readable (or hung up) between requests.
  Unexpected<Error> lost();

  // The vGPUs open on this connection: the daemon keys a client's state by vGPU, so two
  // sessions of one vGPU would share (and close) each other's references.
  std::set<uint32_t>& open_vgpus() { return open_; }
  // What the daemon's Hello said it answers (proto::kFeature*).
  uint32_t features() const { return features_; }
  void set_features(uint32_t f) { features_ = f; }

 private:
  Unexpected<Error> fail(Error e);

  UniqueFd sock_;
  std::chrono::milliseconds reply_timeout_;
  uint32_t next_seq_ = 1;
  std::optional<Error> broken_;
  std::set<uint32_t> open_;
  uint32_t features_ = 0;
};

}  // namespace vgd::client::detail
