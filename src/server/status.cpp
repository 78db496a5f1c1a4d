#include "server/status.h"

#include "server/host.h"
#include "server/server.h"

namespace vgd::server {

const VgpuStatus* DaemonStatus::find(uint32_t id) const {
  for (const auto& v : vgpus)
    if (v.id == id) return &v;
  return nullptr;
}

std::vector<NamedCount> guest_attacks(const AttackCounts& a) {
  std::vector<NamedCount> out;
  out.reserve(kGuestAttackCount);
  for (size_t i = 0; i < kGuestAttackCount; ++i) {
    const auto k = static_cast<GuestAttack>(i);
    out.push_back({attack_name(k), a[k]});
  }
  return out;
}

std::vector<NamedCount> access_notes(const VgpuCounters& c, const MmioStats& m) {
  return {{"pvinfo_unlisted_read", c.pvinfo_unlisted_read},
          {"pte_writes", c.pte_writes},
          {"pte_not_present", c.pte_not_present},
          {"pte_half_pending", c.pte_half_pending},
          {"damage_submits", c.damage_submits},
          {"damage_ignored", c.damage_disabled},
          {"muted_write", m.muted_writes}};
}

std::string_view plane_name(size_t plane) {
  constexpr std::string_view kNames[hw::kPlaneCount] = {"primary", "sprite", "cursor"};
  return plane < hw::kPlaneCount ? kNames[plane] : "unknown";
}

std::string_view state_name(uint32_t s) { return proto::state_name(static_cast<proto::VgpuState>(s)); }

FlipRate advance_rate(const std::optional<FlipRate>& prev, const PlaneCounts& flips, std::chrono::steady_clock::time_point now) {
  if (!prev) return FlipRate{flips, now, {}};
  if (now - prev->at < kMinRateWindow) return *prev;
  FlipRate r{flips, now, {}};
  const double dt = std::chrono::duration<double>(now - prev->at).count();
  for (size_t p = 0; p < hw::kPlaneCount; ++p)
    r.fps[p] = flips[p] >= prev->flips[p] ? static_cast<double>(flips[p] - prev->flips[p]) / dt : 0;
  return r;
}

StatusCollector::StatusCollector(Clock now) : now_(std::move(now)), started_(now_()) {}

DaemonStatus StatusCollector::collect(const Host& host, const Server& server) {
  DaemonStatus out;
  const ServerStats ss = server.stats();
  out.clients = ss.connections - ss.disconnects;
  out.connections = ss.connections, out.requests = ss.requests, out.errors = ss.errors;
  out.malformed = ss.malformed, out.refused = ss.refused_connections, out.denied = ss.denied;
  out.trusted_opens = ss.trusted_opens, out.untrusted_opens = ss.untrusted_opens;
  out.unread = ss.unread;
  out.uid_refused = ss.uid_refused_connections, out.hello_timeouts = ss.hello_timeouts;
  for (const auto& hv : host.vgpus()) out.vgpus.push_back(hv->published());
  if (const DisplayLinks* l = host.links())
    out.host_display = HostDisplayStatus{l->name(), l->outputs(), l->stats(), l->display_counters()};
  const auto now = now_();
  out.uptime_s = std::chrono::duration<double>(now - started_).count();
  const Locked lk(mu_);
  for (auto& v : out.vgpus) {
    const auto it = rates_.find(v.id);
    const FlipRate r = advance_rate(it == rates_.end() ? std::nullopt : std::optional(it->second), v.flips, now);
    rates_.insert_or_assign(v.id, r);
    v.plane_fps = r.fps;
    v.fps = r.fps[0];
  }
  return out;
}

}  // namespace vgd::server
