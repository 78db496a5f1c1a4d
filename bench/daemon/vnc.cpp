// daemon_bench vnc: the VNC viewers (viewers::VncStream) end to end, with a real RFB client
// (libvncclient) on loopback.
//
//  flip → pixels   The bench stops the guest and becomes it: it paints a marker colour into the
//                  first page of the surface that is not on screen, flips to it with a PLANE_SURF
//                  write (a synchronous flip: it latches at the next vblank), and times until the
//                  client's framebuffer shows the marker. Goal: p50 ≤ one vblank + 3 ms. A random
//                  pause between flips spreads them over the vblank period.
//  bytes           For each demo workload at 1080p: what the stream put on the wire per second
//                  (its own count of bytes sent) with the client's default encodings and with raw
//                  only, beside what a raw full frame per refresh event would cost. The console
//                  runs twice: with damage hints (the stream compares only what the guest says
//                  changed) and without (every tile compared), with the stream threads' CPU.
//  cpu             CPU of the stream's threads (its consumer thread and libvncserver's, which
//                  inherit its name) per stream with one client each, and what the daemon's
//                  server loop spent answering the streams' queries.
#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string_view>
#include <thread>

#include "common.h"
#include "rfb_client.h"
#include "decode/decoder.h"
#include "viewers/vnc_stream.h"

namespace vgd::daemon_bench {

// --- flip → pixels -----------------------------------------------------------------------------

FlipToPixels measure_flip_to_pixels(double seconds, double warmup) {
  Rig rig({1, Workload::Desktop, false});  // double-buffers its primary
  server::HostedVgpu& hv = *rig.host->vgpus()[0];
  const uint64_t surf_reg = hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSurf);
  const uint64_t live_reg = hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSurfLive);
  // The guest's swap chain: the primary surfaces it flips between.
  std::vector<uint32_t> surfaces;
  for (int i = 0; i < 200 && surfaces.size() < 2; ++i) {
    {
      const Locked lk(hv.lock());
      const uint32_t s = hv.vgpu().vregs().read32(live_reg) & hw::plane::kSurfAddrMask;
      if (std::find(surfaces.begin(), surfaces.end(), s) == surfaces.end()) surfaces.push_back(s);
    }
    sleep_s(0.005);
  }
  if (surfaces.size() < 2) die("the desktop guest did not flip between two surfaces");
  auto stream = vnc_stream_for(rig.path, hv.id());
  RfbClient client(stream->port(), "raw");
  rig.host->stop_guests();  // from here on the bench is the guest
  sleep_s(warmup);

  std::mt19937 rng(42);
  std::vector<int64_t> lat;
  uint64_t timeouts = 0;
  const int64_t end = now_ns() + static_cast<int64_t>(seconds * 1e9);
  for (uint32_t i = 1; now_ns() < end; ++i) {
    const uint32_t marker = (i * 0x9E3779B1u) & 0xFFFFFF;
    int64_t t0;
    {
      const Locked lk(hv.lock());
      const uint32_t live = hv.vgpu().vregs().read32(live_reg) & hw::plane::kSurfAddrMask;
      const uint32_t next = surfaces[0] == live ? surfaces[1] : surfaces[0];
      const auto page = hv.vgpu().ggtt().translate(Gma(next));
      if (!page || page->scratch) die("the back surface is not mapped");
      auto bytes = hv.vgpu().ram().host_bytes(page->offset, kPageSize);
      for (size_t b = 0; b + 4 <= bytes.size(); b += 4) std::memcpy(bytes.data() + b, &marker, 4);  // XRGB8888
      t0 = now_ns();
      (void)hv.vgpu().write(MmioOffset(surf_reg), 4, next);
    }
    const int64_t give_up = t0 + 1'000'000'000;
    while (client.corner() != marker && now_ns() < give_up) std::this_thread::sleep_for(std::chrono::microseconds(100));
    if (client.corner() == marker)
      lat.push_back(client.corner_ns() - t0);
    else
      ++timeouts;
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 16'667)(rng)));
  }
  return {std::move(lat), timeouts, display::period_ns_for_mhz(hv.vgpu().display().refresh_mhz()) / 1e6};
}

namespace {

void flip_latency(const Options& o, std::vector<std::string>& json) {
  const FlipToPixels f = measure_flip_to_pixels(o.seconds, o.warmup);
  const double period_ms = f.period_ms;
  const uint64_t timeouts = f.timeouts;
  const Dist d = summarize(f.lat);
  std::printf("\n== vnc: guest flip -> pixels in a libvncclient (raw), 1080p (goal p50 <= %.1f ms = one vblank + 3 ms)\n",
              period_ms + 3);
  std::printf("%-34s %8s %9s %9s %9s %9s\n", "", "flips", "p50 ms", "p90 ms", "p99 ms", "max ms");
  std::printf("%-34s %8zu %9.2f %9.2f %9.2f %9.2f   (%llu timed out)\n", "flip -> marker pixel received", d.n, d.p50 / 1e3,
              d.p90 / 1e3, d.p99 / 1e3, d.max / 1e3, static_cast<unsigned long long>(timeouts));
  json.push_back(JObj().str("name", "flip_to_pixels").num("goal_p50_ms", period_ms + 3).num("timeouts", static_cast<double>(timeouts))
                     .add("latency", dist_json(d)).dump());
}

// --- bytes on the wire -------------------------------------------------------------------------

void bytes_per_workload(const Options& o, std::vector<std::string>& json) {
  std::printf("\n== vnc: bytes on the wire per second, 1080p, one client, %.0f s per row\n", o.seconds);
  std::printf("%-10s %-6s %-9s %9s %10s %12s %16s %8s %9s\n", "workload", "hints", "encodings", "events/s", "updates/s",
              "wire KiB/s", "raw frames KiB/s", "ratio", "vnc CPU%");
  const std::pair<Workload, bool> runs[] = {
      {Workload::Desktop, true}, {Workload::Console, true}, {Workload::Console, false}, {Workload::Video, true}};
  for (const auto& [w, hints] : runs) {
    for (const char* enc : {"tight zrle hextile zlib raw", "raw"}) {
      Rig rig({1, w, false, hints});
      server::HostedVgpu& hv = *rig.host->vgpus()[0];
      auto stream = vnc_stream_for(rig.path, hv.id());
      RfbClient client(stream->port(), enc);
      sleep_s(o.warmup);
      // A naive server would send a whole frame for every refresh event (every vblank with a
      // flip, or every vblank for a single-buffered guest): that is the raw column.
      const viewers::VncStats s0 = stream->stats();
      const uint64_t u0 = client.updates();
      const int64_t t0 = now_ns(), cpu0 = threads_cpu_ns("vnc");
      sleep_s(o.seconds);
      const double secs = static_cast<double>(now_ns() - t0) / 1e9;
      const double cpu = static_cast<double>(threads_cpu_ns("vnc") - cpu0) / 1e7 / secs;
      const viewers::VncStats st = stream->stats();
      // "yes" where the guest gave them (the console when offered; the others never hint).
      const bool used = st.hinted_frames > s0.hinted_frames;
      const double eps = static_cast<double>(st.events - s0.events) / secs;
      const double wire = static_cast<double>(st.bytes_sent - s0.bytes_sent) / secs / 1024;
      const double raw = eps * st.width * st.height * 4 / 1024;
      const double ups = static_cast<double>(client.updates() - u0) / secs;
      const std::string e = std::string(enc) == "raw" ? "raw" : "default";
      std::printf("%-10s %-6s %-9s %9.1f %10.1f %12.1f %16.0f %8.4f %9.2f\n", std::string(name(w)).c_str(),
                  used ? "yes" : "no", e.c_str(), eps, ups, wire, raw, raw > 0 ? wire / raw : 0, cpu);
      json.push_back(JObj().str("name", "bytes").str("workload", name(w)).str("hints", used ? "yes" : "no")
                         .str("encodings", e).num("events_per_s", eps).num("updates_per_s", ups)
                         .num("wire_kib_per_s", wire).num("raw_frames_kib_per_s", raw).num("vnc_cpu_pct", cpu).dump());
    }
  }
}

// --- CPU -----------------------------------------------------------------------------------------

void cpu_per_stream(const Options& o, std::vector<std::string>& json) {
  constexpr uint32_t kStreams = 4;
  std::printf("\n== vnc: CPU per stream, %u desktop guests at 1080p, one client each (default encodings), %.0f s\n", kStreams,
              o.seconds);
  Rig rig({kStreams, Workload::Desktop, false});
  const int64_t loop0 = thread_cpu_ns(rig.loop), w0 = now_ns();
  sleep_s(o.seconds);
  const double loop_alone = static_cast<double>(thread_cpu_ns(rig.loop) - loop0) / static_cast<double>(now_ns() - w0) * 100;
  std::vector<std::unique_ptr<viewers::VncStream>> streams;
  std::vector<std::unique_ptr<RfbClient>> clients;
  for (auto& hv : rig.host->vgpus()) {
    streams.push_back(vnc_stream_for(rig.path, hv->id()));
    clients.push_back(std::make_unique<RfbClient>(streams.back()->port(), "tight zrle hextile zlib raw"));
  }
  sleep_s(o.warmup);
  const int64_t vnc0 = threads_cpu_ns("vnc"), loop1 = thread_cpu_ns(rig.loop), t0 = now_ns();
  sleep_s(o.seconds);
  const double wall = static_cast<double>(now_ns() - t0);
  const double vnc = static_cast<double>(threads_cpu_ns("vnc") - vnc0) / wall * 100 / kStreams;
  const double loop_with = static_cast<double>(thread_cpu_ns(rig.loop) - loop1) / wall * 100;
  std::printf("%-52s %8.2f %% of a core\n", "stream threads (consumer + libvncserver), per stream", vnc);
  std::printf("%-52s %8.2f %% -> %.2f %% (+%.2f %% per stream)\n", "server loop, without -> with the streams", loop_alone,
              loop_with, (loop_with - loop_alone) / kStreams);
  json.push_back(JObj().str("name", "cpu").num("streams", kStreams).num("stream_pct_per_stream", vnc)
                     .num("loop_pct_without", loop_alone).num("loop_pct_with", loop_with).dump());
}

}  // namespace

void run_vnc(const Options& o) {
  std::vector<std::string> rows;
  const OtherLoad load;
  flip_latency(o, rows);
  bytes_per_workload(o, rows);
  cpu_per_stream(o, rows);
  std::printf("   %s\n", noise_note(load.pct()).c_str());
  write_file(o.out + "/daemon-vnc.json", JObj().str("benchmark", "vnc").add("context", context_json())
                                                .num("other_processes_pct", load.pct()).add("rows", jlist(rows)).dump());
}

}  // namespace vgd::daemon_bench
