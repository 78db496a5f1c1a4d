// vgpu-view: a consumer of vgpud through libvgd-client. Lists the vGPUs, or follows one: on
// every refresh event it queries the planes, maps their buffers (cached by id; on a vGPU with
// tearing control released once the frame is composed) and writes the composed screen as a PNG
// (rate-limited) and/or prints how long each stage took.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "client/client.h"
#include "fb/png.h"
#include "viewers/frame_grab.h"
#include "stats.h"

namespace {

using Clock = std::chrono::steady_clock;
using vgd::client::describe;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int fail(const std::string& msg) {
  fmt::print(stderr, "vgpu-view: {}\n", msg);
  return 1;
}

uint64_t us_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(b - a).count());
}

struct Options {
  std::string socket = vgd::client::default_socket_path();
  std::optional<uint32_t> vgpu;
  bool list = false;
  std::string png_dir;
  double max_fps = 2;
  bool stats = false;
  std::optional<uint64_t> count;
  std::optional<double> seconds;
};

void print_list(const std::vector<vgd::client::VgpuInfo>& vgpus) {
  fmt::print("{:>4}  {:<12} {:<14} {:<12} {:<10} {}\n", "id", "state", "mode", "type", "workload", "tearing");
  for (const auto& v : vgpus) {
    const std::string mode = v.width ? fmt::format("{}x{}@{:.2f}", v.width, v.height, v.refresh_mhz / 1000.0) : "off";
    fmt::print("{:>4}  {:<12} {:<14} {:<12} {:<10} {}\n", v.id, vgd::client::state_name(v.state), mode, v.type,
               v.workload, vgd::client::tearing_name(v.tearing));
  }
}

// Writes the picture under a temporary name first, so a viewer reloading the file never sees
// half of it.
vgd::Expected<bool, std::string> write_snapshot(const vgd::fb::Image& img, const std::filesystem::path& path) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  if (auto w = vgd::fb::write_png(img, tmp); !w) return vgd::Unexpected(w.error());
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return vgd::Unexpected(fmt::format("rename to {}: {}", path.string(), ec.message()));
  return true;
}

int follow(vgd::client::Connection& conn, const Options& opt, uint32_t id) {
  auto vgpu = conn.open(id);
  if (!vgpu) return fail(fmt::format("open vGPU {}: {}", id, describe(vgpu.error())));
  if (auto p = vgpu->probe(); !p) return fail(fmt::format("vGPU {} exports no buffers: {}", id, describe(p.error())));
  if (auto e = vgpu->enable_events(); !e) return fail(fmt::format("enable events: {}", describe(e.error())));
  if (vgpu->releases_on_drop())
    fmt::print(stderr, "vgpu-view: vGPU {} has tearing control '{}': frames are released once composed\n", id,
               vgd::client::tearing_name(vgpu->tearing()));

  std::filesystem::path png_path;
  if (!opt.png_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opt.png_dir, ec);
    if (ec) return fail(fmt::format("cannot create {}: {}", opt.png_dir, ec.message()));
    png_path = std::filesystem::path(opt.png_dir) / fmt::format("vgpu{}.png", id);
    fmt::print(stderr, "vgpu-view: writing vGPU {}'s screen to {} (at most {} per second)\n", id, png_path.string(),
               opt.max_fps);
  }
  const bool stats = opt.stats || png_path.empty();
  vgd::view::StatsTable table(stdout);
  const auto png_interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / opt.max_fps));
  std::optional<Clock::time_point> last_png;
  const auto start = Clock::now();
  const std::optional<Clock::time_point> end =
      opt.seconds ? std::optional(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*opt.seconds)))
                  : std::nullopt;
  uint64_t wakeups = 0, pngs = 0;

  while (!g_stop && (!opt.count || wakeups < *opt.count)) {
    // Short waits so a signal or the deadline is noticed promptly.
    auto wait = std::chrono::milliseconds(250);
    if (end) {
      if (Clock::now() >= *end) break;
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(*end - Clock::now()) +
                                std::chrono::milliseconds(1));
    }
    auto ev = vgpu->wait_events(wait);
    if (!ev) return fail(fmt::format("waiting for events: {}", describe(ev.error())));
    if (!ev->any()) continue;
    const auto t_event = Clock::now();
    ++wakeups;

    vgd::view::Sample s;
    s.events = *ev;
    if (stats) {  // one more round trip, for when the vblank this event reports happened
      if (auto stamp = vgpu->poll_events(); stamp && vgpu->last_event_ns() != 0) {
        const auto woke = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t_event.time_since_epoch()).count());
        if (woke >= vgpu->last_event_ns()) s.delivery_us = (woke - vgpu->last_event_ns()) / 1000;
      }
    }
    const auto before = vgpu->counters();
    auto frame = vgd::viewers::query_planes(*vgpu);
    if (!frame) return fail(fmt::format("query: {}", describe(frame.error())));
    const auto t_query = Clock::now();
    if (auto m = vgd::viewers::map_buffers(*vgpu, *frame); !m) return fail(fmt::format("buffer: {}", describe(m.error())));
    const auto t_mapped = Clock::now();
    s.query_us = us_between(t_event, t_query);
    s.map_us = us_between(t_query, t_mapped);
    s.hits = vgpu->counters().cache_hits - before.cache_hits;
    s.misses = vgpu->counters().cache_misses - before.cache_misses;
    s.note = frame->problems;
    if (ev->display_off) s.note += s.note.empty() ? "display off" : "; display off";

    const bool png_due = !png_path.empty() && (!last_png || t_event - *last_png >= png_interval);
    std::optional<vgd::fb::Image> picture;
    if ((stats || png_due) && (*frame)[vgd::hw::Plane::Primary]) {
      auto img = vgd::viewers::compose_frame(*frame);
      s.compose_us = us_between(t_mapped, Clock::now());
      if (!img) s.note += (s.note.empty() ? "" : "; ") + img.error();
      else picture = std::move(*img);
    }
    // Done with the guest's frame: with tearing control (hold, copy) this hands its buffers
    // back now, before the slow PNG, so the guest need not wait (hold) nor frames be skipped
    // (copy). Without, the session's cache keeps them.
    vgd::viewers::drop_buffers(*frame);
    if (picture && png_due) {
      if (auto w = write_snapshot(*picture, png_path); !w) return fail(w.error());
      last_png = t_event;
      ++pngs;
    }
    if (stats) table.row(s);
  }
  if (stats) table.summary(vgpu->counters());
  if (!png_path.empty()) fmt::print(stderr, "vgpu-view: {} snapshots written to {}\n", pngs, png_path.string());
  if (auto c = vgpu->close(); !c) return fail(fmt::format("close: {}", describe(c.error())));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vgpu-view: follow a vGPU's screen through vgpud (PNG snapshots and per-event timings)"};
  Options opt;
  app.add_option("--socket", opt.socket, "vgpud's socket")->capture_default_str();
  app.add_option("--vgpu", opt.vgpu, "the vGPU to follow (default: the first listed)");
  app.add_flag("--list", opt.list, "print the vGPUs and exit");
  app.add_option("--png", opt.png_dir, "write the composed screen to DIR/vgpu<ID>.png on events");
  app.add_option("--max-fps", opt.max_fps, "at most this many PNGs per second")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--stats", opt.stats, "print per-event stage timings (the default without --png)");
  app.add_option("--count", opt.count, "stop after N event wakeups")->check(CLI::PositiveNumber);
  app.add_option("--seconds", opt.seconds, "stop after S seconds")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  auto conn = vgd::client::Connection::connect(opt.socket, "vgpu-view");
  if (!conn) return fail(conn.error().message);
  auto vgpus = conn->list();
  if (!vgpus) return fail(fmt::format("list: {}", describe(vgpus.error())));
  if (opt.list) {
    print_list(*vgpus);
    return 0;
  }
  if (vgpus->empty()) return fail(fmt::format("the daemon at {} hosts no vGPU", opt.socket));
  return follow(*conn, opt, opt.vgpu.value_or(vgpus->front().id));
}
