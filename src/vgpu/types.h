// vGPU types (docs/hardware.md, vGPU types): how much aperture, hidden GM and how many fences an
// instance gets. The four standard gen9 types plus any defined in configuration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "memory/partition.h"

namespace vgd {

struct VgpuType {
  std::string name;
  ResourceRequest resources;
  uint32_t weight = 2;  // GPU-time share, 16 / n for GVTg_V5_n
  uint32_t max_width = 1024, max_height = 768;  // virtual monitor's largest mode

  // Empty when usable, else what is wrong with it.
  std::string validate() const;
};

std::vector<VgpuType> standard_types();

struct TypeAvailability {
  const VgpuType* type;
  bool offered;        // false: its aperture need exceeds what the host leaves, even once
  uint64_t available;  // instances that can still be created
};

std::vector<TypeAvailability> availability(const std::vector<VgpuType>& types, const Partitioner& p);

}  // namespace vgd
