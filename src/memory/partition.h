// Partitioning of the one global graphics-memory space and the fence registers among vGPUs
// (docs/hardware.md, Partitioning): the host keeps its reservations, every vGPU gets one contiguous
// aperture (low GM) slice, one contiguous hidden (high GM) slice and its fences. Pure, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/address.h"
#include "util/expected.h"
#include "util/range_allocator.h"

namespace vgd {

inline constexpr uint64_t kMiB = 1ull << 20;

struct HostReservation {
  uint64_t low_gm = 128 * kMiB;
  uint64_t high_gm = 384 * kMiB;
  uint32_t fences = 4;
};

struct GpuGeometry {
  uint64_t ggtt_size = 4096 * kMiB;      // total graphics memory
  uint64_t aperture_size = 512 * kMiB;   // CPU-visible low GM
  uint32_t fence_count = 32;
  HostReservation host{};

  uint64_t hidden_size() const { return ggtt_size - aperture_size; }
  // Empty when consistent, else what is wrong.
  std::string validate() const;
};

struct ResourceRequest {
  uint64_t low_gm = 0;
  uint64_t high_gm = 0;
  uint32_t fences = 0;
};

struct VgpuResources {
  GmRange aperture;
  GmRange hidden;
  std::vector<uint32_t> fences;  // host fence register index for guest fence i
};

enum class Resource : uint8_t { Aperture, Hidden, Fence };
const char* name(Resource r);

struct AllocError {
  Resource resource;
  uint64_t requested;  // bytes (fences: count)
  uint64_t available;
  uint64_t total;
  bool fragmented = false;  // enough in total, but no contiguous hole
  std::string message() const;
};

class Partitioner {
 public:
  explicit Partitioner(const GpuGeometry& g);

  const GpuGeometry& geometry() const { return geo_; }

  // All or nothing: on failure nothing stays allocated and the error names the short resource.
  Expected<VgpuResources, AllocError> allocate(const ResourceRequest& req);
  void release(const VgpuResources& res);

  // Free after host reservations and everything already allocated.
  uint64_t available(Resource r) const;
  // How many more instances of req fit (the minimum over the three pools).
  uint64_t instances(const ResourceRequest& req) const;
  // A type is offered at all only if its low GM fits once into the aperture minus the host's.
  bool offered(const ResourceRequest& req) const;

 private:
  static constexpr size_t kMaxNodes = 1024;
  GpuGeometry geo_;
  RangeAllocator<Gma, kMaxNodes> gm_;
  std::vector<bool> fence_used_;
  uint64_t low_allocated_ = 0, high_allocated_ = 0;
  uint32_t fences_allocated_ = 0;
};

}  // namespace vgd
