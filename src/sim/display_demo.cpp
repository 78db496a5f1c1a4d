#include "sim/display_demo.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <numeric>

#include "fb/png.h"
#include "sim/guest_session.h"
#include "sim/lockstep.h"
#include "sim/picture.h"

namespace vgd {

namespace {

// One guest of the demo and its row of the report.
struct Runner {
  DisplayRow row;
  std::unique_ptr<GuestSession> session;
};

// Where the run ended: the picture, its size and its pipe's counters.
void finish(Runner& r, const std::string& out_dir) {
  const Vgpu& v = r.session->guest().vgpu();
  r.row.frames = r.session->frames();
  r.row.error = r.session->error();
  auto pic = compose_display(v);
  const hw::Pipe pipe = pic ? pic->pipe : hw::Pipe::A;
  const auto& st = v.display().stats();
  r.row.vblanks = st.vblanks[hw::index(pipe)];
  r.row.flips = std::accumulate(st.flips[hw::index(pipe)].begin(), st.flips[hw::index(pipe)].end(), uint64_t{0});
  r.row.refresh_mhz = v.display().refresh_mhz();
  if (!pic) {
    if (r.row.error.empty()) r.row.error = fmt::format("snapshot: {}", pic.error());
    return;
  }
  r.row.width = pic->image.width;
  r.row.height = pic->image.height;
  if (out_dir.empty()) return;
  const std::string path = fmt::format("{}/vgpu{}-{}.png", out_dir, v.id(), name(r.row.workload));
  if (auto w = fb::write_png(pic->image, path); !w) {
    if (r.row.error.empty()) r.row.error = fmt::format("snapshot: {}", w.error());
    return;
  }
  r.row.snapshot = path;
}

}  // namespace

Expected<DisplayDemoResult, std::string> run_display_demo(Gpu& gpu, display::VirtualClock& clock,
                                                         const DisplayDemoOptions& opt) {
  if (!(opt.seconds > 0 && opt.seconds <= 3600)) return Unexpected(fmt::format("seconds {} not in (0, 3600]", opt.seconds));
  if (!opt.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opt.out_dir, ec);
    if (ec) return Unexpected(fmt::format("cannot create {}: {}", opt.out_dir, ec.message()));
  }
  const auto wall_start = std::chrono::steady_clock::now();
  const uint64_t duration_ns = static_cast<uint64_t>(opt.seconds * 1e9);
  const uint32_t nominal_frames = static_cast<uint32_t>(opt.seconds * 60);
  Lockstep lockstep(clock, opt.guests.size());

  std::vector<Runner> runners;
  runners.reserve(opt.guests.size());
  for (size_t i = 0; i < opt.guests.size(); ++i) {
    const auto& spec = opt.guests[i];
    auto ram = GuestRam::create(spec.ram ? spec.ram : opt.guest_ram, fmt::format("vm{}-ram", i + 1));
    if (!ram) return Unexpected(ram.error());
    const std::string type = spec.type.empty() ? std::string(default_type(spec.workload)) : spec.type;
    auto v = gpu.create_vgpu(type, std::move(*ram));
    if (!v) return Unexpected(fmt::format("vGPU {} ({}): {}", i + 1, type, v.error().message));
    Runner r{DisplayRow{}, std::make_unique<GuestSession>(
                               std::make_unique<InProcessGuest>(**v, gpu.geometry(), &lockstep.port(i)),
                               spec.workload, guest::kMode1024x768at60,
                               nominal_frames / 2)};  // mode switch halfway
    r.row.workload = spec.workload;
    runners.push_back(std::move(r));
  }

  // Every guest on its own thread, each frame() waiting for its own vGPU's vblank.
  const uint64_t start_ns = clock.now_ns(), end_ns = start_ns + duration_ns;
  lockstep.run([&](size_t i) {
    GuestSession& g = *runners[i].session;
    g.boot();
    while (g.ok() && clock.now_ns() < end_ns) g.frame();
  });

  DisplayDemoResult result;
  result.virtual_seconds = static_cast<double>(clock.now_ns() - start_ns) / 1e9;
  for (Runner& r : runners) {
    finish(r, opt.out_dir);
    InProcessGuest& g = r.session->guest();
    r.row.partition = partition_row(g.vgpu(), g.driver(), r.session->status());
    result.rows.push_back(std::move(r.row));
    // The guest stops here; its pipe and buffers stay as they were, like a paused VM.
  }
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace vgd
