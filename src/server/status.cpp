#include "server/status.h"

#include "server/host.h"
#include "server/server.h"

namespace vgd::server {

const VgpuStatus* DaemonStatus::find(uint32_t id) const {
  for (const auto& v : vgpus)
    if (v.id == id) return &v;
  return nullptr;
}

std::vector<NamedCount> refused_accesses(const VgpuCounters& c) {
  return {{"pte_foreign", c.pte_foreign},
          {"pte_bad_frame", c.pte_bad_frame},
          {"pte_bad_size", c.pte_bad_size},
          {"pvinfo_write_dropped", c.pvinfo_write_dropped},
          {"pvinfo_rsv5_write", c.pvinfo_rsv5_write},
          {"display_ready_invalid", c.display_ready_invalid},
          {"g2v_invalid", c.g2v_invalid},
          {"fence_out_of_range", c.fence_out_of_range},
          {"mode_too_large", c.mode_too_large},
          {"refresh_clamped", c.refresh_clamped}};
}

std::vector<NamedCount> access_notes(const VgpuCounters& c) {
  return {{"pvinfo_unlisted_read", c.pvinfo_unlisted_read},
          {"pte_writes", c.pte_writes},
          {"pte_not_present", c.pte_not_present},
          {"pte_half_pending", c.pte_half_pending}};
}

std::vector<NamedCount> mmio_refusals(const MmioStats& m) {
  return {{"bad_size", m.bad_size},
          {"misaligned", m.misaligned},
          {"out_of_range", m.out_of_range},
          {"unbacked", m.unbacked},
          {"muted_write", m.muted_writes}};
}

std::string_view plane_name(size_t plane) {
  constexpr std::string_view kNames[hw::kPlaneCount] = {"primary", "sprite", "cursor"};
  return plane < hw::kPlaneCount ? kNames[plane] : "unknown";
}

namespace {

std::string_view state_name(uint32_t s) {
  switch (static_cast<proto::VgpuState>(s)) {
    case proto::VgpuState::Running: return "running";
    case proto::VgpuState::DisplayOff: return "display-off";
    case proto::VgpuState::Failsafe: return "failsafe";
    case proto::VgpuState::GuestFailed: return "guest-failed";
  }
  return "unknown";
}

// Everything but fps; with the host's lock held.
VgpuStatus read_vgpu(const Host& host, const HostedVgpu& hv) {
  const Vgpu& g = *hv.vgpu;
  const proto::VgpuEntry e = host.describe(hv);
  VgpuStatus s;
  s.id = g.id();
  s.type = g.type().name;
  s.workload = std::string(name(hv.spec.workload));
  s.state = std::string(state_name(e.state));
  if (const auto r = g.failsafe_reason()) s.failsafe_reason = describe(*r);
  s.tearing = std::string(name(hv.spec.tearing));
  s.pv_aware = g.pv_aware();
  s.width = e.width, s.height = e.height, s.refresh_mhz = e.refresh_mhz;
  const display::DisplayStats& d = g.display().stats();
  for (size_t p = 0; p < hw::kPipeCount; ++p) {
    s.vblanks += d.vblanks[p];
    for (size_t pl = 0; pl < hw::kPlaneCount; ++pl) s.flips[pl] += d.flips[p][pl];
  }
  s.interrupts = g.interrupts_raised();
  if (hv.events) {
    s.events = hv.events->hub().stats();
    s.event_consumers = hv.events->hub().consumers();
    s.event_latency = hv.events->latency();
  }
  s.mmio = g.mmio_stats();
  s.counters = g.counters();
  if (hv.exporter) s.exporter = hv.exporter->counters();
  s.tearing_counters = hv.tearing();
  return s;
}

}  // namespace

StatusCollector::StatusCollector() : started_(std::chrono::steady_clock::now()) {}

DaemonStatus StatusCollector::collect(Host& host, const Server& server) {
  // Half a second at least between rate samples, so that the page and a Prometheus scraper
  // polling at once do not shrink the window to a few flips.
  constexpr auto kMinWindow = std::chrono::milliseconds(500);
  DaemonStatus out;
  const ServerStats ss = server.stats();  // before the host lock: never both held here
  out.clients = ss.connections - ss.disconnects;
  out.connections = ss.connections, out.requests = ss.requests, out.errors = ss.errors;
  out.malformed = ss.malformed, out.refused = ss.refused_connections;
  {
    const std::lock_guard lk(host.lock());
    for (const auto& hv : host.vgpus()) out.vgpus.push_back(read_vgpu(host, *hv));
  }
  const auto now = std::chrono::steady_clock::now();
  out.uptime_s = std::chrono::duration<double>(now - started_).count();
  const std::lock_guard lk(mu_);
  for (auto& v : out.vgpus) {
    auto [it, fresh] = rates_.try_emplace(v.id, Rate{v.flips, now, {}});
    Rate& r = it->second;
    if (!fresh && now - r.at >= kMinWindow) {
      const double dt = std::chrono::duration<double>(now - r.at).count();
      for (size_t p = 0; p < hw::kPlaneCount; ++p)  // a count that went back (reset) restarts at 0
        r.fps[p] = v.flips[p] >= r.flips[p] ? static_cast<double>(v.flips[p] - r.flips[p]) / dt : 0;
      r.flips = v.flips, r.at = now;
    }
    v.plane_fps = r.fps;
    v.fps = r.fps[0];
  }
  return out;
}

}  // namespace vgd::server
