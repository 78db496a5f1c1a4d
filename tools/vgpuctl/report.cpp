#include "report.h"

#include <fmt/format.h>

namespace vgd::ctl {
namespace {

std::string mib(uint64_t bytes) { return fmt::format("{} MiB", bytes / kMiB); }

std::string range_text(const GmRange& r) {
  if (r.size == 0) return "-";
  return fmt::format("{:#010x}-{:#010x} ({})", r.begin.value(), r.end().value(), mib(r.size));
}

std::string geometry_line(const Gpu& gpu) {
  const GpuGeometry& g = gpu.geometry();
  return fmt::format("GPU: GGTT {} (aperture {}, hidden {}), {} fences; host keeps {} low, {} high, {} fences\n",
                     mib(g.ggtt_size), mib(g.aperture_size), mib(g.hidden_size()), g.fence_count,
                     mib(g.host.low_gm), mib(g.host.high_gm), g.host.fences);
}

nlohmann::json range_json(const GmRange& r) {
  return {{"begin", r.begin.value()}, {"end", r.end().value()}, {"size_mib", r.size / kMiB}};
}

}  // namespace

nlohmann::json types_json(const Gpu& gpu) {
  auto out = nlohmann::json::array();
  for (const TypeAvailability& a : gpu.availability()) {
    if (!a.offered) continue;  // like the kernel, a type that cannot fit once is not listed
    const VgpuType& t = *a.type;
    out.push_back({{"name", t.name},
                   {"low_gm_mib", t.resources.low_gm / kMiB},
                   {"high_gm_mib", t.resources.high_gm / kMiB},
                   {"fences", t.resources.fences},
                   {"weight", t.weight},
                   {"resolution", fmt::format("{}x{}", t.max_width, t.max_height)},
                   {"available", a.available}});
  }
  return out;
}

std::string types_table(const Gpu& gpu) {
  std::string s = geometry_line(gpu);
  s += fmt::format("{:<12} {:>8} {:>9} {:>6} {:>6} {:>10} {:>9}\n", "type", "low GM", "high GM", "fences",
                   "weight", "max mode", "available");
  for (const TypeAvailability& a : gpu.availability()) {
    const VgpuType& t = *a.type;
    s += fmt::format("{:<12} {:>8} {:>9} {:>6} {:>6} {:>10} {:>9}\n", t.name, mib(t.resources.low_gm),
                     mib(t.resources.high_gm), t.resources.fences, t.weight,
                     fmt::format("{}x{}", t.max_width, t.max_height),
                     a.offered ? fmt::format("{}", a.available) : std::string("not offered"));
  }
  return s;
}

nlohmann::json demo_json(const Gpu& gpu, const std::vector<DemoRow>& rows) {
  auto list = nlohmann::json::array();
  for (const DemoRow& r : rows) {
    list.push_back({{"vgpu", r.vgpu},
                    {"type", r.type},
                    {"aperture", range_json(r.aperture)},
                    {"hidden", range_json(r.hidden)},
                    {"host_fences", r.host_fences},
                    {"guest",
                     {{"ok", r.guest_result == guest::Error::None},
                      {"state", r.guest_state()},
                      {"balloon_holes", r.balloon_holes},
                      {"balloon_reserved_mib", r.balloon_reserved / kMiB},
                      {"framebuffer", range_json(r.framebuffer)},
                      {"display_ready", r.display_ready},
                      {"failsafe", r.failsafe}}},
                    {"traps", r.traps},
                    {"refused", r.refused}});
  }
  const GpuGeometry& g = gpu.geometry();
  return {{"gpu",
           {{"ggtt_mib", g.ggtt_size / kMiB}, {"aperture_mib", g.aperture_size / kMiB}, {"fences", g.fence_count}}},
          {"vgpus", list},
          {"types", types_json(gpu)}};
}

std::string demo_table(const Gpu& gpu, const std::vector<DemoRow>& rows) {
  std::string s = geometry_line(gpu);
  s += fmt::format("{:<4} {:<10} {:<33} {:<34} {:<14} {}\n", "vGPU", "type", "aperture (low GM)", "hidden (high GM)",
                   "host fences", "guest");
  for (const DemoRow& r : rows) {
    s += fmt::format("{:<4} {:<10} {:<33} {:<34} {:<14} {}\n", r.vgpu, r.type, range_text(r.aperture),
                     range_text(r.hidden), fmt::format("{}", fmt::join(r.host_fences, ",")), r.guest_state());
  }
  s += "\nStill available:";
  for (const TypeAvailability& a : gpu.availability())
    if (a.offered) s += fmt::format(" {} x{}", a.type->name, a.available);
  s += "\n";
  return s;
}

namespace {

std::vector<DemoRow> partition_rows(const DisplayDemoResult& result) {
  std::vector<DemoRow> rows;
  for (const DisplayRow& r : result.rows) rows.push_back(r.partition);
  return rows;
}

std::string mode_text(const DisplayRow& r) {
  if (r.width == 0) return "off";
  return fmt::format("{}x{}@{:.2f}", r.width, r.height, r.refresh_mhz / 1000.0);
}

}  // namespace

nlohmann::json run_json(const Gpu& gpu, const DisplayDemoResult& result) {
  nlohmann::json out = demo_json(gpu, partition_rows(result));
  auto& vgpus = out["vgpus"];
  for (size_t i = 0; i < result.rows.size(); ++i) {
    const DisplayRow& r = result.rows[i];
    vgpus[i]["display"] = {{"workload", std::string(name(r.workload))},
                           {"ok", r.error.empty()},
                           {"error", r.error},
                           {"frames", r.frames},
                           {"width", r.width},
                           {"height", r.height},
                           {"refresh_hz", r.refresh_mhz / 1000.0},
                           {"vblanks", r.vblanks},
                           {"flips", r.flips},
                           {"snapshot", r.snapshot}};
  }
  out["virtual_seconds"] = result.virtual_seconds;
  out["wall_seconds"] = result.wall_seconds;
  return out;
}

std::string run_table(const Gpu& gpu, const DisplayDemoResult& result) {
  std::string s = demo_table(gpu, partition_rows(result));
  s += fmt::format("\nDisplays after {:.2f} s of virtual time ({:.2f} s wall):\n", result.virtual_seconds,
                   result.wall_seconds);
  s += fmt::format("{:<4} {:<10} {:<18} {:>6} {:>7} {:>6}  {}\n", "vGPU", "workload", "mode", "frames", "vblanks",
                   "flips", "snapshot");
  for (const DisplayRow& r : result.rows) {
    s += fmt::format("{:<4} {:<10} {:<18} {:>6} {:>7} {:>6}  {}\n", r.partition.vgpu, name(r.workload), mode_text(r),
                     r.frames, r.vblanks, r.flips, r.error.empty() ? r.snapshot : "FAILED: " + r.error);
  }
  return s;
}

}  // namespace vgd::ctl
