// The partition demo: N vGPUs, each with a guest that detects PVINFO, balloons, allocates a
// framebuffer, programs a fence and reports display ready. Returns one row per vGPU.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "guest/driver.h"
#include "guest/status.h"
#include "util/expected.h"
#include "vgpu/gpu.h"

namespace vgd {

struct DemoRow {
  uint32_t vgpu = 0;
  std::string type;
  GmRange aperture, hidden;
  std::vector<uint32_t> host_fences;
  // What the guest saw and did.
  guest::Error guest_result = guest::Error::None;
  uint32_t balloon_holes = 0;
  uint64_t balloon_reserved = 0;
  GmRange framebuffer{};  // GM of the guest's framebuffer
  bool display_ready = false;
  bool failsafe = false;
  uint64_t traps = 0;
  uint64_t refused = 0;

  std::string guest_state() const;
};

struct DemoOptions {
  std::string type = "GVTg_V5_8";
  uint32_t vgpus = 4;
  uint64_t guest_ram = 64ull << 20;
  uint32_t fb_width = 1024, fb_height = 768;
};

// A vGPU's slice of the GPU and what its guest made of it, as it stands now.
DemoRow partition_row(const Vgpu& v, const guest::Driver& drv, guest::Error guest_result);

// Creates the vGPUs on gpu (they stay there) and runs one guest on each.
Expected<std::vector<DemoRow>, std::string> run_partition_demo(Gpu& gpu, const DemoOptions& opt);

}  // namespace vgd
