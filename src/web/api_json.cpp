#include "web/api_json.h"

#include <string>

namespace vgd::web {

using nlohmann::json;

namespace {

json named(const std::vector<server::NamedCount>& list) {
  json o = json::object();
  for (const auto& c : list) o[std::string(c.name)] = c.value;
  return o;
}

json histogram_json(const Histogram& h) {
  json buckets = json::array();
  for (size_t i = 0; i < h.bounds().size(); ++i) buckets.push_back({{"le_ns", h.bounds()[i]}, {"count", h.cumulative(i)}});
  buckets.push_back({{"le_ns", "+Inf"}, {"count", h.count()}});
  return {{"count", h.count()}, {"sum_ns", h.sum()}, {"buckets", std::move(buckets)}};  // cumulative, as Prometheus
}

json mmio_json(const MmioStats& m) {
  json traps = json::object();
  for (size_t b = 0; b < hw::kRegBlockCount; ++b)
    traps[std::string(hw::kRegBlockNames[b])] = {{"reads", m.reads[b]}, {"writes", m.writes[b]}};
  return {{"traps", std::move(traps)}};
}

json exporter_json(const exporter::ExporterCounters& c) {
  return {{"queries", c.queries},   {"hits", c.hits},           {"misses", c.misses},
          {"exported_buffers", c.exports}, {"releases", c.releases}, {"evictions", c.evictions},
          {"refused", c.refused},   {"dmabufs", c.dmabufs},     {"dmabuf_failures", c.dmabuf_failures},
          {"live_buffers", c.live}, {"over_limit", c.over_limit}};
}

json tearing_json(const exporter::TearingCounters& c) {
  return {{"held", c.held},
          {"hold_timeouts", c.hold_timeouts},
          {"hold_ns_total", c.hold_ns_total},
          {"hold_ns_max", c.hold_ns_max},
          {"copies", c.copies},
          {"copy_skipped", c.copy_skipped},
          {"copy_over_budget", c.copy_over_budget},
          {"copy_failures", c.copy_failures},
          {"copy_bytes", c.copy_bytes},
          {"copy_ns_total", c.copy_ns_total},
          {"copy_ns_max", c.copy_ns_max},
          {"copy_ns_last", c.copy_ns_last}};
}

json vnc_json(const server::ViewerStatus& v) {
  if (v.port == 0) return nullptr;  // no viewer for this vGPU
  return {{"port", v.port},         {"clients", v.clients},           {"frames", v.frames},
          {"updates", v.updates},   {"bytes_sent", v.bytes_sent},     {"cursor_moves", v.cursor_moves},
          {"resizes", v.resizes},   {"websocket_refused", named(v.websocket_refused)}};
}

json direct_flip_json(const std::optional<server::DirectFlipStatus>& d) {
  if (!d) return nullptr;  // on no output
  const directflip::LinkCounters& c = d->counters;
  return {{"output", d->output},           {"pipe", std::string(1, d->pipe)},
          {"frames", c.frames},            {"commits", c.commits},
          {"imports", c.imports},          {"refills", c.refills},
          {"scaled_fallbacks", c.scaled_fallbacks}, {"bytes_copied", c.bytes_copied},
          {"busy_deferrals", c.busy_deferrals},     {"superseded", c.superseded},
          {"refused", c.refused},          {"failed_frames", c.failed_frames},
          {"flips_shown", c.flips_shown},
          {"clock", d->clock},             {"clock_reason", d->clock_reason},
          {"lead_us", c.lead_us},          {"host_vblanks", c.host_vblanks},
          {"clock_aligns", c.clock_aligns},
          {"cursor", d->cursor ? json{{"x", d->cursor->x}, {"y", d->cursor->y}, {"width", d->cursor->width},
                                      {"height", d->cursor->height}, {"hot_x", d->cursor->hot_x}, {"hot_y", d->cursor->hot_y}}
                               : json(nullptr)}};
}

json summary(const server::VgpuStatus& v) {
  return {{"id", v.id}, {"type", v.type}, {"workload", v.workload}, {"state", v.state}};
}

}  // namespace

json vgpu_json(const server::VgpuStatus& v) {
  json flips = json::object(), plane_fps = json::object();
  for (size_t p = 0; p < v.flips.size(); ++p) {
    flips[std::string(server::plane_name(p))] = v.flips[p];
    plane_fps[std::string(server::plane_name(p))] = v.plane_fps[p];
  }
  json j = summary(v);
  j["failsafe"] = v.state == "failsafe";
  j["failsafe_reason"] = v.failsafe_reason.empty() ? json(nullptr) : json(v.failsafe_reason);
  j["tearing"] = v.tearing;
  j["pv_aware"] = v.pv_aware;
  j["mode"] = {{"width", v.width}, {"height", v.height}, {"refresh_mhz", v.refresh_mhz}};
  j["fps"] = v.fps;
  j["plane_fps"] = std::move(plane_fps);
  j["vblanks"] = v.vblanks;
  j["vblank_dispatch"] = {{"late", v.late_vblanks}, {"missed", v.missed_vblanks}, {"delay", histogram_json(v.dispatch_delay)}};
  j["interrupts"] = v.interrupts;
  j["resets"] = v.resets;
  j["flips"] = std::move(flips);
  j["events"] = {{"published", v.events.published},
                 {"signalled", v.events.signalled},
                 {"masked", v.events.masked_dropped},
                 {"overflowed", v.events.overflowed},
                 {"failed", v.events.failed},
                 {"consumers", v.event_consumers},
                 {"latency", histogram_json(v.event_latency)}};
  j["mmio"] = mmio_json(v.mmio);
  j["damage_hints"] = {{"enabled", v.damage_hints},
                       {"submits", v.counters.damage_submits},
                       {"refused", v.attacks[GuestAttack::DamageCtlReserved] + v.attacks[GuestAttack::DamageSubmitInvalid]},
                       {"ignored", v.counters.damage_disabled}};
  j["guest_attacks"] = named(server::guest_attacks(v.attacks));  // docs/guest-attacks.md
  j["access_notes"] = named(server::access_notes(v.counters, v.mmio));
  j["exporter"] = exporter_json(v.exporter);
  j["tearing_counters"] = tearing_json(v.tearing_counters);
  j["vnc"] = vnc_json(v.vnc);
  j["vm"] = v.vm ? json{{"attached", v.vm->attached},
                        {"attaches", v.vm->attaches},
                        {"detaches", named(v.vm->detaches)},
                        {"last_detach", v.vm->last_detach.empty() ? json(nullptr) : json(v.vm->last_detach)}}
                 : json(nullptr);
  j["direct_flip"] = direct_flip_json(v.direct_flip);
  return j;
}

json outputs_json(const server::DaemonStatus& s) {
  if (!s.host_display) return {{"available", false}, {"display", nullptr}, {"outputs", json::array()}};
  const server::HostDisplayStatus& h = *s.host_display;
  json outs = json::array();
  for (const server::OutputStatus& o : h.outputs)
    outs.push_back({{"name", o.name},
                    {"connected", o.connected},
                    {"crtc", o.crtc},
                    {"mode", {{"width", o.width}, {"height", o.height}, {"refresh_mhz", o.refresh_mhz}}},
                    {"vgpu", o.vgpu ? json{{"id", o.vgpu}, {"pipe", std::string(1, hw::letter(o.pipe))}, {"by_config", o.by_config}}
                                    : json(nullptr)},
                    // What it scans out over VNC (its websocket on the same port), null: no view.
                    {"view", o.view_port ? json{{"vnc_port", o.view_port}, {"clients", o.view_clients},
                                                {"pictures_sent", o.view_pictures},
                                                {"websocket_refused", named(o.view_ws_refused)}}
                                         : json(nullptr)},
                    {"lessee", o.lessee ? json(o.lessee) : json(nullptr)}});
  const server::DisplayLinkStats& l = h.links;
  const hostdisplay::CommitCounters& c = h.commits;
  return {{"available", true},
          {"display", h.name},
          {"outputs", std::move(outs)},
          {"requests", {{"assigns", l.assigns}, {"unassigns", l.unassigns}, {"released", l.released}, {"refused", l.refused},
                        {"leases", l.leases}, {"leases_ended", l.leases_ended}}},
          {"flip_events", {{"routed", l.events}, {"unrouted", l.unrouted}}},
          {"links_renewed", {{"ram_replaced", l.renewed}, {"failed", l.renew_failed}}},
          {"vblank_events", {{"routed", l.vblanks}}},
          {"host_commits",
           {{"tests", c.tests}, {"commits", c.commits}, {"refused", c.refused}, {"with_allow_modeset", c.with_allow_modeset},
            {"async", c.async}, {"events", c.events}}}};
}

json vgpus_json(const server::DaemonStatus& s) {
  json a = json::array();
  for (const auto& v : s.vgpus) a.push_back(vgpu_json(v));
  return a;
}

json daemon_json(const server::DaemonStatus& s) {
  json list = json::array();
  for (const auto& v : s.vgpus) list.push_back(summary(v));
  return {{"uptime_s", s.uptime_s},
          {"clients", s.clients},
          {"connections", s.connections},
          {"requests", s.requests},
          {"errors", s.errors},
          {"malformed", s.malformed},
          {"refused_connections", s.refused},
          {"uid_refused_connections", s.uid_refused},
          {"hello_timeouts", s.hello_timeouts},
          {"unread_clients", s.unread},
          {"denied", s.denied},
          {"opens", {{"trusted", s.trusted_opens}, {"untrusted", s.untrusted_opens}}},
          {"vgpus", std::move(list)}};
}

json error_json(int status, std::string_view message) {
  return {{"error", {{"status", status}, {"message", std::string(message)}}}};
}

}  // namespace vgd::web
