// Who may consume a vGPU over the control socket (docs/protocol.md §7, docs/config.md
// "Consumers"): a pure function of the vGPU's ConsumerAccess and the peer's credentials, which
// the server reads from the socket (SO_PEERCRED, SO_PEERGROUPS) when the peer connects.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "config/daemon_config.h"
#include "server/consumer_port.h"

namespace vgd::server {

// The peer as the kernel vouches for it at connect.
struct Peer {
  pid_t pid = 0;
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups (the primary gid may or may not be among them)
};

// The daemon itself: its in-process viewers (VNC, the dashboard) connect over the socket too.
struct Self {
  pid_t pid = 0;
  uint32_t uid = 0;
};

// Denied: the vGPU does not exist for this peer (not listed, not opened). Untrusted: host-owned
// copies of the planes only. Trusted: the guest's memory itself (descriptors of its RAM, dma-bufs).
enum class Access : uint8_t { Denied, Untrusted, Trusted };
constexpr std::string_view name(Access a) {
  return a == Access::Trusted ? "trusted" : a == Access::Untrusted ? "untrusted" : "denied";
}

// The daemon's own process and the trusted lists: Trusted. The allow lists (when neither is
// given: the daemon's uid and root): Untrusted. Anyone else: Denied.
Access decide(const ConsumerAccess& access, const Peer& peer, Self self);

// The host's own administrator: the daemon's uid or root (the host display's outputs are theirs).
inline bool host_admin(const Peer& peer, Self self) { return peer.uid == 0 || peer.uid == self.uid; }

}  // namespace vgd::server
