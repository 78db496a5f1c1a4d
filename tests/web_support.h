// A hand-made daemon snapshot for the formatting tests: two vGPUs with distinct, recognisable
// counters (one in failsafe, one with a VNC viewer) and a label that needs escaping.
#pragma once

#include "server/status.h"

namespace vgd::test {

inline server::DaemonStatus sample_status() {
  server::DaemonStatus s;
  s.uptime_s = 12.5;
  s.clients = 2, s.connections = 7, s.requests = 1234, s.errors = 3, s.malformed = 1, s.refused = 4;
  s.uid_refused = 9, s.hello_timeouts = 10;
  s.denied = 5, s.trusted_opens = 6, s.untrusted_opens = 8;

  server::VgpuStatus a;
  a.id = 1, a.type = "GVTg_V5_8", a.workload = "desktop", a.state = "running", a.tearing = "hold";
  a.width = 1024, a.height = 768, a.refresh_mhz = 60000, a.fps = 29.5;
  a.vblanks = 600, a.interrupts = 650;
  a.flips = {300, 0, 12};
  a.events.published = 310, a.events.signalled = 305, a.events.masked_dropped = 2, a.events.overflowed = 1;
  a.event_consumers = 1;
  for (uint64_t ns : {10'000, 30'000, 40'000, 120'000, 3'000'000, 90'000'000}) a.event_latency.record(ns);
  a.mmio.reads[static_cast<size_t>(hw::RegBlock::Display)] = 40;
  a.mmio.writes[static_cast<size_t>(hw::RegBlock::Gtt)] = 1540;
  a.attacks[GuestAttack::MmioMisaligned] = 5;
  a.counters.pte_writes = 1540;
  a.damage_hints = true;
  a.counters.damage_submits = 70, a.attacks[GuestAttack::DamageSubmitInvalid] = 3, a.counters.damage_disabled = 5;
  a.exporter.exports = 17, a.exporter.live = 3, a.exporter.queries = 99;
  a.tearing_counters.held = 8, a.tearing_counters.hold_ns_total = 2'500'000'000;
  a.vnc = {5901, 1, 300, 280, 123456, 12, 1, {{"host", 2}, {"origin", 3}, {"header", 0}}};

  server::VgpuStatus b;
  b.id = 2, b.type = "Odd \"type\"\\name", b.workload = "console", b.state = "failsafe",
  b.failsafe_reason = "guest reported insufficient resources", b.tearing = "none";
  b.attacks[GuestAttack::GgttForeignPte] = 9, b.attacks[GuestAttack::FenceOutOfRange] = 2;
  b.attacks[GuestAttack::MmioBeyondBar] = 4;

  s.vgpus = {a, b};
  return s;
}

}  // namespace vgd::test
