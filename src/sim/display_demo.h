// The display demo: vGPUs whose guests run screen-like workloads (desktop, console, video
// overlay, mode switch) for a stretch of virtual time on one shared vblank clock, then a PNG of
// what each vGPU's monitor shows, composed from its planes like any consumer would.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "display/vblank_clock.h"
#include "sim/demo.h"
#include "sim/guest_session.h"
#include "util/expected.h"
#include "vgpu/gpu.h"

namespace vgd {

// The smallest standard vGPU type whose maximum resolution holds every mode the workload sets
// (a mode switch goes to 1920x1080).
constexpr std::string_view default_type(Workload w) { return w == Workload::ModeSwitch ? "GVTg_V5_4" : "GVTg_V5_8"; }

struct DisplayDemoOptions {
  struct Guest {
    Workload workload = Workload::Desktop;
    std::string type = {};  // empty: default_type(workload)
    uint64_t ram = 0;  // 0: guest_ram below
  };
  std::vector<Guest> guests = {{Workload::Desktop}, {Workload::Console}, {Workload::Video}, {Workload::ModeSwitch}};
  double seconds = 3.0;              // of virtual time
  uint64_t guest_ram = 128ull << 20;  // a 1080p X-tiled double buffer needs ~17 MiB
  std::string out_dir = "snapshots";  // empty: no files
};

struct DisplayRow {
  DemoRow partition;
  Workload workload = Workload::Desktop;
  uint32_t frames = 0;  // the workload's frames presented
  uint32_t width = 0, height = 0, refresh_mhz = 0;
  uint64_t vblanks = 0, flips = 0;  // on the pipe shown
  std::string snapshot;  // the PNG written, if any
  std::string error;     // why the workload or the snapshot failed; empty when all went well
};

struct DisplayDemoResult {
  std::vector<DisplayRow> rows;
  double virtual_seconds = 0, wall_seconds = 0;
};

// Creates one vGPU per guest on gpu (they stay there); clock must drive gpu's vblanks. A guest
// that fails is reported in its row, and the others carry on.
Expected<DisplayDemoResult, std::string> run_display_demo(Gpu& gpu, display::VirtualClock& clock,
                                                         const DisplayDemoOptions& opt);

}  // namespace vgd
