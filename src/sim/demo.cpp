#include "sim/demo.h"

#include <fmt/format.h>

#include <numeric>

#include "sim/inprocess.h"

namespace vgd {

std::string DemoRow::guest_state() const {
  if (guest_result != guest::Error::None) return fmt::format("failed: {}", guest::describe(guest_result));
  std::string s = fmt::format("ballooned ({} holes, {} MiB)", balloon_holes, balloon_reserved / kMiB);
  if (display_ready) s += ", display ready";
  if (failsafe) s += ", FAILSAFE";
  return s;
}

DemoRow partition_row(const Vgpu& v, const guest::Driver& drv, guest::Error guest_result) {
  DemoRow row;
  row.vgpu = v.id();
  row.type = v.type().name;
  row.aperture = v.resources().aperture;
  row.hidden = v.resources().hidden;
  row.host_fences = v.resources().fences;
  row.guest_result = guest_result;
  for (const GmRange& h : drv.balloon_plan().holes) row.balloon_holes += h.size ? 1 : 0;
  row.balloon_reserved = drv.gm_reserved_bytes();
  row.display_ready = v.display_ready() == 1;
  row.failsafe = v.failsafe();
  const auto& st = v.mmio_stats();
  row.traps = std::accumulate(st.reads.begin(), st.reads.end(), uint64_t{0}) +
              std::accumulate(st.writes.begin(), st.writes.end(), uint64_t{0});
  row.refused = st.refused() + v.counters().refused();
  return row;
}

namespace {

DemoRow run_guest(const Gpu& gpu, Vgpu& v, const DemoOptions& opt) {
  InProcessGuest g(v, gpu.geometry());
  guest::Driver& drv = g.driver();

  guest::Error result = guest::Error::None;

  auto step = [&](guest::Error e) {
    if (result == guest::Error::None) result = e;
    return e == guest::Error::None;
  };
  guest::Buffer fb;
  GmRange framebuffer{};
  const uint64_t fb_bytes = uint64_t{opt.fb_width} * opt.fb_height * 4;
  if (step(drv.probe()) && step(drv.balloon()) && step(drv.alloc_buffer(fb_bytes, guest::Placement::Aperture, fb)) &&
      (drv.resources().fence_num == 0 || step(drv.set_fence(0, fb.gm.value() | 1))) &&
      step(drv.set_display_ready(true))) {
    framebuffer = GmRange{fb.gm, fb.size};
  }
  DemoRow row = partition_row(v, drv, result);
  row.framebuffer = framebuffer;
  return row;
}

}  // namespace

Expected<std::vector<DemoRow>, std::string> run_partition_demo(Gpu& gpu, const DemoOptions& opt) {
  std::vector<DemoRow> rows;
  for (uint32_t i = 0; i < opt.vgpus; ++i) {
    auto ram = GuestRam::create(opt.guest_ram, fmt::format("vm{}-ram", i + 1));
    if (!ram) return Unexpected(ram.error());
    auto v = gpu.create_vgpu(opt.type, std::move(*ram));
    if (!v) return Unexpected(fmt::format("vGPU {} of {}: {}", i + 1, opt.vgpus, v.error().message));
    rows.push_back(run_guest(gpu, **v, opt));
  }
  return rows;
}

}  // namespace vgd
