#include "server/admission.h"

#include <algorithm>

namespace vgd::server {
namespace {

bool has(const std::vector<uint32_t>& list, uint32_t id) { return std::find(list.begin(), list.end(), id) != list.end(); }

// The peer's primary gid or any of its supplementary groups is listed.
bool in_groups(const std::vector<uint32_t>& list, const Peer& peer) {
  return has(list, peer.gid) || std::any_of(peer.groups.begin(), peer.groups.end(), [&](uint32_t g) { return has(list, g); });
}

}  // namespace

Access decide(const ConsumerAccess& access, const Peer& peer, Self self) {
  if (peer.pid == self.pid) return Access::Trusted;  // our own viewers, in this process
  if (has(access.trusted_uids, peer.uid) || in_groups(access.trusted_gids, peer)) return Access::Trusted;
  const bool admitted = access.allow_uids || access.allow_gids
                            ? (access.allow_uids && has(*access.allow_uids, peer.uid)) ||
                                  (access.allow_gids && in_groups(*access.allow_gids, peer))
                            : host_admin(peer, self);
  return admitted ? Access::Untrusted : Access::Denied;
}

}  // namespace vgd::server
