#include "web/prometheus.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace vgd::web {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

using server::DaemonStatus;
using server::VgpuStatus;

// Appends families; the caller keeps each family's samples together (the format requires it).
class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::string_view labels, uint64_t v) {
    fmt::format_to(std::back_inserter(out_), "{}{}{}{} {}\n", name, labels.empty() ? "" : "{", labels,
                   labels.empty() ? "" : "}", v);
  }
  void sample(std::string_view name, std::string_view labels, double v) {
    fmt::format_to(std::back_inserter(out_), "{}{}{}{} {}\n", name, labels.empty() ? "" : "{", labels,
                   labels.empty() ? "" : "}", v);
  }
  // One series per vGPU.
  template <class Value>
  void per_vgpu(const DaemonStatus& s, std::string_view name, std::string_view type, std::string_view help,
                Value&& value) {
    if (s.vgpus.empty()) return;
    family(name, type, help);
    for (const auto& v : s.vgpus) sample(name, vgpu_label(v), value(v));
  }
  // One series per vGPU and named counter, the name under `label`.
  template <class List>
  void per_vgpu_named(const DaemonStatus& s, std::string_view name, std::string_view label, std::string_view help,
                      List&& list) {
    if (s.vgpus.empty()) return;
    family(name, "counter", help);
    for (const auto& v : s.vgpus)
      for (const server::NamedCount& c : list(v))
        sample(name, fmt::format("{},{}=\"{}\"", vgpu_label(v), label, escape_label(c.name)), c.value);
  }
  static std::string vgpu_label(const VgpuStatus& v) { return fmt::format("vgpu=\"{}\"", v.id); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// A counter family read from one field of a per-vGPU struct.
template <class S>
struct Field {
  std::string_view name, help;
  uint64_t S::*field;
};

double seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

void daemon_metrics(Writer& w, const DaemonStatus& s) {
  w.family("vgpud_uptime_seconds", "gauge", "Seconds since the daemon started serving.");
  w.sample("vgpud_uptime_seconds", "", s.uptime_s);
  w.family("vgpud_vgpus", "gauge", "vGPUs hosted.");
  w.sample("vgpud_vgpus", "", static_cast<uint64_t>(s.vgpus.size()));
  w.family("vgpud_clients", "gauge", "Consumers connected to the daemon's socket now.");
  w.sample("vgpud_clients", "", s.clients);
  const std::pair<std::string_view, std::string_view> totals[] = {
      {"vgpud_connections_total", "Consumer connections accepted."},
      {"vgpud_requests_total", "Consumer requests served."},
      {"vgpud_request_errors_total", "Error replies sent to consumers."},
      {"vgpud_malformed_clients_total", "Consumers closed for a protocol violation."},
      {"vgpud_refused_connections_total", "Connections refused beyond max_clients."},
      {"vgpud_uid_refused_connections_total", "Connections refused beyond max_clients_per_uid."},
      {"vgpud_hello_timeouts_total", "Consumers closed for sending no Hello within hello_timeout_ms."},
      {"vgpud_unread_clients_total", "Consumers closed because they left their replies unread."},
      {"vgpud_denied_requests_total", "Requests refused for who the consumer is (not admitted, not trusted)."}};
  const uint64_t values[] = {s.connections, s.requests,       s.errors, s.malformed, s.refused,
                             s.uid_refused, s.hello_timeouts, s.unread, s.denied};
  for (size_t i = 0; i < std::size(totals); ++i) {
    w.family(totals[i].first, "counter", totals[i].second);
    w.sample(totals[i].first, "", values[i]);
  }
  w.family("vgpud_opens_total", "counter", "vGPUs opened by consumers, by trust (trusted: the guest's memory itself).");
  w.sample("vgpud_opens_total", "trust=\"trusted\"", s.trusted_opens);
  w.sample("vgpud_opens_total", "trust=\"untrusted\"", s.untrusted_opens);
}

void display_metrics(Writer& w, const DaemonStatus& s) {
  if (s.vgpus.empty()) return;
  w.family("vgpud_vgpu_info", "gauge", "Constant 1, labelled with the vGPU's type, guest workload and tearing control.");
  for (const auto& v : s.vgpus)
    w.sample("vgpud_vgpu_info",
             fmt::format("{},type=\"{}\",workload=\"{}\",tearing=\"{}\"", Writer::vgpu_label(v), escape_label(v.type),
                         escape_label(v.workload), escape_label(v.tearing)),
             uint64_t{1});
  w.family("vgpud_vgpu_state", "gauge", "1 for the vGPU's current state, 0 for the others.");
  for (const auto& v : s.vgpus)
    for (std::string_view st : {"running", "display-off", "failsafe", "guest-failed", "no-vm"})
      w.sample("vgpud_vgpu_state", fmt::format("{},state=\"{}\"", Writer::vgpu_label(v), st),
               uint64_t{v.state == st});
  w.per_vgpu(s, "vgpud_vgpu_failsafe", "gauge", "1 when the vGPU is in failsafe mode (its display muted).",
             [](const VgpuStatus& v) { return uint64_t{v.state == "failsafe"}; });
  w.per_vgpu(s, "vgpud_vgpu_width_pixels", "gauge", "Width of the mode on the first active pipe (0: display off).",
             [](const VgpuStatus& v) { return uint64_t{v.width}; });
  w.per_vgpu(s, "vgpud_vgpu_height_pixels", "gauge", "Height of the mode on the first active pipe (0: display off).",
             [](const VgpuStatus& v) { return uint64_t{v.height}; });
  w.per_vgpu(s, "vgpud_vgpu_refresh_hz", "gauge", "Refresh rate the guest programmed (0: display off).",
             [](const VgpuStatus& v) { return v.refresh_mhz / 1000.0; });
  w.per_vgpu(s, "vgpud_vgpu_fps", "gauge", "Primary-plane flips per second over the last sample window.",
             [](const VgpuStatus& v) { return v.fps; });
  w.per_vgpu(s, "vgpud_vblanks_total", "counter", "Emulated vblanks, every pipe.",
             [](const VgpuStatus& v) { return v.vblanks; });
  w.per_vgpu(s, "vgpud_interrupts_total", "counter", "Interrupts raised to the guest.",
             [](const VgpuStatus& v) { return v.interrupts; });
  w.per_vgpu(s, "vgpud_device_resets_total", "counter",
             "Device resets: the VM's machine reset, the guest's function-level reset, a VM leaving.",
             [](const VgpuStatus& v) { return v.resets; });
  w.family("vgpud_flips_total", "counter", "Plane flips the guest made, every pipe.");
  for (const auto& v : s.vgpus)
    for (size_t p = 0; p < v.flips.size(); ++p)
      w.sample("vgpud_flips_total", fmt::format("{},plane=\"{}\"", Writer::vgpu_label(v), server::plane_name(p)),
               v.flips[p]);
}

// One histogram per vGPU, in Prometheus' cumulative-bucket form.
template <class Get>
void histogram_family(Writer& w, const DaemonStatus& s, std::string_view name, std::string_view help, Get get) {
  if (s.vgpus.empty()) return;
  w.family(name, "histogram", help);
  const std::string n(name);
  for (const auto& v : s.vgpus) {
    const Histogram& h = get(v);
    const std::string id = Writer::vgpu_label(v);
    for (size_t i = 0; i < h.bounds().size(); ++i)
      w.sample(n + "_bucket", fmt::format("{},le=\"{}\"", id, seconds(h.bounds()[i])), h.cumulative(i));
    w.sample(n + "_bucket", id + ",le=\"+Inf\"", h.count());
    w.sample(n + "_sum", id, seconds(h.sum()));
    w.sample(n + "_count", id, h.count());
  }
}

void event_metrics(Writer& w, const DaemonStatus& s) {
  w.per_vgpu(s, "vgpud_events_published_total", "counter", "Refresh events published to consumers.",
             [](const VgpuStatus& v) { return v.events.published; });
  w.per_vgpu(s, "vgpud_events_signalled_total", "counter", "Successful eventfd writes.",
             [](const VgpuStatus& v) { return v.events.signalled; });
  w.per_vgpu(s, "vgpud_events_masked_total", "counter", "Deliveries skipped because the consumer was masked.",
             [](const VgpuStatus& v) { return v.events.masked_dropped; });
  w.per_vgpu(s, "vgpud_events_overflowed_total", "counter", "Eventfd writes refused by a full counter (value kept).",
             [](const VgpuStatus& v) { return v.events.overflowed; });
  w.per_vgpu(s, "vgpud_events_failed_total", "counter", "Eventfd writes that failed otherwise (value kept).",
             [](const VgpuStatus& v) { return v.events.failed; });
  w.per_vgpu(s, "vgpud_event_consumers", "gauge", "Consumers registered for refresh events.",
             [](const VgpuStatus& v) { return v.event_consumers; });
  histogram_family(w, s, "vgpud_event_latency_seconds", "From a vblank's deadline to every consumer's eventfd written.",
                   [](const VgpuStatus& v) -> const Histogram& { return v.event_latency; });
}

void vm_metrics(Writer& w, const DaemonStatus& s) {
  w.per_vgpu(s, "vgpud_vm_attached", "gauge", "1 while a QEMU VM is attached (vGPUs with guest = qemu; 0 otherwise).",
             [](const VgpuStatus& v) { return uint64_t{v.vm && v.vm->attached}; });
  w.per_vgpu(s, "vgpud_vm_attaches_total", "counter", "QEMU VMs attached.",
             [](const VgpuStatus& v) { return v.vm ? v.vm->attaches : 0; });
  w.per_vgpu_named(s, "vgpud_vm_detaches_total", "reason", "QEMU VMs that went, by why.",
                   [](const VgpuStatus& v) { return v.vm ? v.vm->detaches : std::vector<server::NamedCount>{}; });
}

void vblank_metrics(Writer& w, const DaemonStatus& s) {
  w.per_vgpu(s, "vgpud_vblanks_late_total", "counter",
             "Vblanks superseded because the vGPU's lock stayed busy for a whole period.",
             [](const VgpuStatus& v) { return v.late_vblanks; });
  w.per_vgpu(s, "vgpud_vblanks_missed_total", "counter", "Vblank deadlines the vblank thread slept through.",
             [](const VgpuStatus& v) { return v.missed_vblanks; });
  histogram_family(w, s, "vgpud_vblank_dispatch_seconds", "From a vblank's deadline to its emulation on the vGPU.",
                   [](const VgpuStatus& v) -> const Histogram& { return v.dispatch_delay; });
}

void access_metrics(Writer& w, const DaemonStatus& s) {
  if (s.vgpus.empty()) return;
  w.family("vgpud_mmio_traps_total", "counter", "Guest MMIO accesses trapped, by register block and direction.");
  for (const auto& v : s.vgpus)
    for (size_t b = 0; b < hw::kRegBlockCount; ++b)
      for (const bool write : {false, true})
        w.sample("vgpud_mmio_traps_total",
                 fmt::format("{},block=\"{}\",access=\"{}\"", Writer::vgpu_label(v), hw::kRegBlockNames[b],
                             write ? "write" : "read"),
                 write ? v.mmio.writes[b] : v.mmio.reads[b]);
  w.per_vgpu(s, "vgpud_damage_hints", "gauge", "1 while the guest gives damage hints.",
             [](const VgpuStatus& v) { return uint64_t{v.damage_hints}; });
  w.per_vgpu(s, "vgpud_damage_submits_total", "counter", "Damage-hint submits, refused and ignored ones included.",
             [](const VgpuStatus& v) { return v.counters.damage_submits; });
  w.per_vgpu_named(s, "vgpud_guest_attacks_total", "attack",
                   "Guest programming the device model refused or neutralised, by attack (docs/guest-attacks.md).",
                   [](const VgpuStatus& v) { return server::guest_attacks(v.attacks); });
  w.per_vgpu_named(s, "vgpud_guest_access_notes_total", "kind", "Informational guest access counts (not misbehaviour).",
                   [](const VgpuStatus& v) { return server::access_notes(v.counters, v.mmio); });
}

void exporter_metrics(Writer& w, const DaemonStatus& s) {
  using C = exporter::ExporterCounters;
  const Field<C> fields[] = {
      {"vgpud_exporter_queries_total", "Plane queries, refusals included.", &C::queries},
      {"vgpud_exporter_hits_total", "Queries answered with an existing buffer id.", &C::hits},
      {"vgpud_exporter_misses_total", "Queries that created a new buffer.", &C::misses},
      {"vgpud_exported_buffers_total", "Buffers exported to consumers (successful GetBuffer).", &C::exports},
      {"vgpud_exporter_releases_total", "Buffer references released.", &C::releases},
      {"vgpud_exporter_evictions_total", "Idle buffers dropped by the LRU bound.", &C::evictions},
      {"vgpud_exporter_refused_total", "Exporter calls answered with an error.", &C::refused},
      {"vgpud_exporter_over_limit_total", "GetBuffers refused: the consumer held the most references it may.",
       &C::over_limit},
      {"vgpud_exporter_dmabufs_total", "dma-bufs created.", &C::dmabufs},
      {"vgpud_exporter_dmabuf_failures_total", "Exports without a dma-buf although udmabuf was asked for.",
       &C::dmabuf_failures}};
  for (const auto& f : fields)
    w.per_vgpu(s, f.name, "counter", f.help, [&](const VgpuStatus& v) { return v.exporter.*f.field; });
  w.per_vgpu(s, "vgpud_exporter_live_buffers", "gauge", "Buffers with an id now.",
             [](const VgpuStatus& v) { return v.exporter.live; });

  using T = exporter::TearingCounters;
  const Field<T> tearing[] = {
      {"vgpud_tearing_held_total", "Primary flips whose flip-done waited for a consumer (hold).", &T::held},
      {"vgpud_tearing_hold_timeouts_total", "Held flip-dones raised at the bound (hold).", &T::hold_timeouts},
      {"vgpud_tearing_copies_total", "Frames copied to a shadow (copy).", &T::copies},
      {"vgpud_tearing_copy_skipped_total", "Frames not copied: both shadows exported (copy).", &T::copy_skipped},
      {"vgpud_tearing_copy_over_budget_total", "Frames not copied: past the vGPU's copy budget (copy).", &T::copy_over_budget},
      {"vgpud_tearing_copy_failures_total", "Copies without a shadow memfd (copy).", &T::copy_failures},
      {"vgpud_tearing_copy_bytes_total", "Bytes copied to shadows (copy).", &T::copy_bytes}};
  for (const auto& f : tearing)
    w.per_vgpu(s, f.name, "counter", f.help, [&](const VgpuStatus& v) { return v.tearing_counters.*f.field; });
  w.per_vgpu(s, "vgpud_tearing_hold_seconds_total", "counter", "Time flip-dones waited (hold).",
             [](const VgpuStatus& v) { return seconds(v.tearing_counters.hold_ns_total); });
  w.per_vgpu(s, "vgpud_tearing_copy_seconds_total", "counter", "Time spent copying frames (copy).",
             [](const VgpuStatus& v) { return seconds(v.tearing_counters.copy_ns_total); });
}

void viewer_metrics(Writer& w, const DaemonStatus& s) {
  DaemonStatus with_vnc;  // only vGPUs that have a viewer
  for (const auto& v : s.vgpus)
    if (v.vnc.port != 0) with_vnc.vgpus.push_back(v);
  using V = server::ViewerStatus;
  const Field<V> fields[] = {{"vgpud_vnc_frames_total", "Frames the VNC server took from the vGPU.", &V::frames},
                          {"vgpud_vnc_updates_total", "Framebuffer updates sent to VNC clients.", &V::updates},
                          {"vgpud_vnc_bytes_sent_total", "Bytes sent to VNC clients.", &V::bytes_sent},
                          {"vgpud_vnc_cursor_moves_total", "Cursor moves sent to VNC clients.", &V::cursor_moves},
                          {"vgpud_vnc_resizes_total", "Desktop resizes sent to VNC clients.", &V::resizes}};
  w.per_vgpu(with_vnc, "vgpud_vnc_clients", "gauge", "VNC clients (noVNC included) connected now.",
             [](const VgpuStatus& v) { return uint64_t{v.vnc.clients}; });
  for (const auto& f : fields)
    w.per_vgpu(with_vnc, f.name, "counter", f.help, [&](const VgpuStatus& v) { return v.vnc.*f.field; });
  w.per_vgpu_named(with_vnc, "vgpud_vnc_ws_refused_total", "reason",
                   "Websocket upgrades the VNC port refused with a 403 before libvncserver (docs/security.md): "
                   "a foreign Host or Origin, or a request header that never ended.",
                   [](const VgpuStatus& v) { return v.vnc.websocket_refused; });
  // The virtual monitor's outputs over VNC (docs/direct-flip.md) have the same door.
  const auto has_view = [](const server::OutputStatus& o) { return o.view_port != 0; };
  if (!s.host_display || std::none_of(s.host_display->outputs.begin(), s.host_display->outputs.end(), has_view)) return;
  w.family("vgpud_output_view_ws_refused_total", "counter",
           "Websocket upgrades a host output's VNC view refused with a 403, as vgpud_vnc_ws_refused_total.");
  for (const auto& o : s.host_display->outputs) {
    if (!has_view(o)) continue;
    for (const server::NamedCount& c : o.view_ws_refused)
      w.sample("vgpud_output_view_ws_refused_total",
               fmt::format("output=\"{}\",reason=\"{}\"", escape_label(o.name), escape_label(c.name)), c.value);
  }
}

// docs/viewers.md, "Direct flip": the host display, then the links of the vGPUs on an output.
void direct_flip_metrics(Writer& w, const DaemonStatus& s) {
  w.family("vgpud_direct_flip_available", "gauge", "1 when the daemon has a host display vGPU pipes can be put on.");
  w.sample("vgpud_direct_flip_available", "", uint64_t{s.host_display.has_value()});
  if (!s.host_display) return;
  const server::HostDisplayStatus& h = *s.host_display;
  w.family("vgpud_direct_flip_output_vgpu", "gauge", "The vGPU shown on each host output (0: none).");
  for (const auto& o : h.outputs) w.sample("vgpud_direct_flip_output_vgpu", fmt::format("output=\"{}\"", escape_label(o.name)), uint64_t{o.vgpu});
  const std::pair<std::string_view, std::string_view> totals[] = {
      {"vgpud_direct_flip_assigns_total", "Pipes put on an output (config and clients)."},
      {"vgpud_direct_flip_unassigns_total", "Pipes taken off an output by UnassignOutput."},
      {"vgpud_direct_flip_released_total", "Assignments ended because their client disconnected."},
      {"vgpud_direct_flip_renewed_total", "Links made anew on their output because their vGPU's RAM was replaced."},
      {"vgpud_direct_flip_renew_failed_total", "Links that could not be made anew (their output dark until reassigned)."},
      {"vgpud_direct_flip_refused_requests_total", "AssignOutput / UnassignOutput / LeaseOutput requests refused."},
      {"vgpud_direct_flip_leases_total", "Outputs leased out (LeaseOutput)."},
      {"vgpud_direct_flip_leases_ended_total", "Leases revoked (their client went) or closed by their lessee."},
      {"vgpud_direct_flip_host_commits_total", "Commits the host display accepted."},
      {"vgpud_direct_flip_host_refused_total", "Commits and tests the host display refused."},
      {"vgpud_direct_flip_host_modesets_total", "Requests with ALLOW_MODESET (output bring-ups only, never a guest flip)."}};
  const uint64_t values[] = {h.links.assigns, h.links.unassigns, h.links.released, h.links.renewed,
                             h.links.renew_failed, h.links.refused, h.links.leases, h.links.leases_ended,
                             h.commits.commits, h.commits.refused, h.commits.with_allow_modeset};
  for (size_t i = 0; i < std::size(totals); ++i) {
    w.family(totals[i].first, "counter", totals[i].second);
    w.sample(totals[i].first, "", values[i]);
  }
  DaemonStatus linked;  // only vGPUs on an output
  for (const auto& v : s.vgpus)
    if (v.direct_flip) linked.vgpus.push_back(v);
  using L = directflip::LinkCounters;
  const Field<L> fields[] = {
      {"vgpud_direct_flip_frames_total", "Guest frames a state was built for.", &L::frames},
      {"vgpud_direct_flip_commits_total", "Commits of the vGPU's planes the host accepted.", &L::commits},
      {"vgpud_direct_flip_imports_total", "Planes shown from the guest's pages without a copy.", &L::imports},
      {"vgpud_direct_flip_refills_total", "Planes shown from a refilled shadow.", &L::refills},
      {"vgpud_direct_flip_scaled_fallbacks_total", "Frames composed and scaled (the host plane could not scale).", &L::scaled_fallbacks},
      {"vgpud_direct_flip_bytes_copied_total", "Bytes copied into shadows.", &L::bytes_copied},
      {"vgpud_direct_flip_busy_deferrals_total", "Commits refused busy, retried at the next page flip.", &L::busy_deferrals},
      {"vgpud_direct_flip_refused_total", "The vGPU's commits the host refused otherwise.", &L::refused},
      {"vgpud_direct_flip_failed_frames_total", "Guest frames that could not be decoded or fed.", &L::failed_frames},
      {"vgpud_direct_flip_flips_shown_total", "Page-flip events of the vGPU's commits.", &L::flips_shown},
      {"vgpud_direct_flip_host_vblanks_total", "Vblank events of the output the vGPU's clock followed.", &L::host_vblanks},
      {"vgpud_direct_flip_clock_aligns_total", "Re-phasings of the vGPU's vblank timer onto the output's.", &L::clock_aligns}};
  for (const auto& f : fields)
    w.per_vgpu(linked, f.name, "counter", f.help, [&](const VgpuStatus& v) { return v.direct_flip->counters.*f.field; });
  w.per_vgpu(linked, "vgpud_direct_flip_lead_us", "gauge",
             "How long before each of the output's vblanks the vGPU's vblank ticks (0: its own clock).",
             [](const VgpuStatus& v) { return v.direct_flip->counters.lead_us; });
}

}  // namespace

std::string prometheus_text(const DaemonStatus& s) {
  Writer w;
  daemon_metrics(w, s);
  display_metrics(w, s);
  event_metrics(w, s);
  vblank_metrics(w, s);
  vm_metrics(w, s);
  access_metrics(w, s);
  exporter_metrics(w, s);
  viewer_metrics(w, s);
  direct_flip_metrics(w, s);
  return w.take();
}

}  // namespace vgd::web
