#include "vgpu/types.h"

#include <fmt/format.h>

#include "hw/bar.h"

namespace vgd {

std::vector<VgpuType> standard_types() {
  // name, {low GM, high GM, fences}, weight, max mode — docs/hardware.md, vGPU types.
  return {
      {"GVTg_V5_8", {64 * kMiB, 384 * kMiB, 4}, 2, 1024, 768},
      {"GVTg_V5_4", {128 * kMiB, 512 * kMiB, 4}, 4, 1920, 1200},
      {"GVTg_V5_2", {256 * kMiB, 1024 * kMiB, 4}, 8, 1920, 1200},
      {"GVTg_V5_1", {512 * kMiB, 2048 * kMiB, 4}, 16, 1920, 1200},
  };
}

std::string VgpuType::validate() const {
  if (name.empty()) return "vGPU type needs a name";
  if (resources.low_gm == 0 || !is_aligned(resources.low_gm, kMiB))
    return fmt::format("type {}: low GM must be a non-zero whole number of MiB", name);
  if (!is_aligned(resources.high_gm, kMiB))
    return fmt::format("type {}: high GM must be a whole number of MiB", name);
  if (resources.fences > hw::kMaxFences)
    return fmt::format("type {}: {} fences, but a guest can address only {}", name, resources.fences,
                       hw::kMaxFences);
  if (weight < 1 || weight > 16) return fmt::format("type {}: weight {} outside 1..16", name, weight);
  if (max_width == 0 || max_height == 0) return fmt::format("type {}: empty maximum resolution", name);
  // PIPESRC holds 13 bits of width and 12 of height: a larger mode cannot be programmed.
  if (max_width > 8192 || max_height > 4096)
    return fmt::format("type {}: maximum resolution {}x{} beyond the pipe's 8192x4096", name, max_width, max_height);
  return {};
}

std::vector<TypeAvailability> availability(const std::vector<VgpuType>& types, const Partitioner& p) {
  std::vector<TypeAvailability> out;
  out.reserve(types.size());
  for (const VgpuType& t : types) {
    const bool offered = p.offered(t.resources);
    out.push_back({&t, offered, offered ? p.instances(t.resources) : 0});
  }
  return out;
}

}  // namespace vgd
