#include "memory/partition.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace vgd {
namespace {

uint64_t round_page(uint64_t v) { return align_up(v, kPageSize); }

}  // namespace

std::string GpuGeometry::validate() const {
  // PVINFO carries 32-bit GM addresses and sizes: a larger GGTT could not be described.
  if (ggtt_size == 0 || ggtt_size > (4096 * kMiB))
    return fmt::format("GGTT size {} MiB must be within 1..4096 MiB (PVINFO addresses are 32-bit)",
                       ggtt_size / kMiB);
  if (!is_aligned(ggtt_size, kMiB) || !is_aligned(aperture_size, kMiB))
    return "GGTT and aperture sizes must be whole MiB";
  if (aperture_size == 0 || aperture_size >= ggtt_size)
    return fmt::format("aperture {} MiB must be non-zero and below the GGTT size {} MiB",
                       aperture_size / kMiB, ggtt_size / kMiB);
  if (host.low_gm > aperture_size)
    return fmt::format("host low GM reservation {} MiB exceeds the aperture {} MiB",
                       host.low_gm / kMiB, aperture_size / kMiB);
  if (host.high_gm > hidden_size())
    return fmt::format("host high GM reservation {} MiB exceeds hidden GM {} MiB",
                       host.high_gm / kMiB, hidden_size() / kMiB);
  if (host.fences > fence_count)
    return fmt::format("host fence reservation {} exceeds the {} fence registers", host.fences, fence_count);
  return {};
}

const char* name(Resource r) {
  switch (r) {
    case Resource::Aperture: return "aperture (low GM)";
    case Resource::Hidden: return "hidden (high GM)";
    case Resource::Fence: return "fence registers";
  }
  return "?";
}

std::string AllocError::message() const {
  if (resource == Resource::Fence)
    return fmt::format("not enough {}: requested {}, available {}, total {}", name(resource), requested,
                       available, total);
  return fmt::format("not enough {}{}: requested {} MiB, available {} MiB, total {} MiB", name(resource),
                     fragmented ? " in one contiguous piece" : "", requested / kMiB, available / kMiB,
                     total / kMiB);
}

Partitioner::Partitioner(const GpuGeometry& g)
    : geo_(g), gm_(GmRange{Gma(0), g.ggtt_size}), fence_used_(g.fence_count, false) {
  // The host's own objects: bottom of the aperture and bottom of hidden GM; vGPU hidden slices
  // are then placed top-down, as i915 does with PIN_HIGH.
  if (g.host.low_gm) (void)gm_.reserve(GmRange{Gma(0), g.host.low_gm});
  if (g.host.high_gm) (void)gm_.reserve(GmRange{Gma(g.aperture_size), g.host.high_gm});
  for (uint32_t i = 0; i < g.host.fences && i < g.fence_count; ++i) fence_used_[i] = true;
}

uint64_t Partitioner::available(Resource r) const {
  switch (r) {
    case Resource::Aperture: return geo_.aperture_size - geo_.host.low_gm - low_allocated_;
    case Resource::Hidden: return geo_.hidden_size() - geo_.host.high_gm - high_allocated_;
    case Resource::Fence: return geo_.fence_count - geo_.host.fences - fences_allocated_;
  }
  return 0;
}

uint64_t Partitioner::instances(const ResourceRequest& req) const {
  uint64_t n = std::numeric_limits<uint64_t>::max();
  auto limit = [&](uint64_t want, uint64_t avail) {
    if (want) n = std::min(n, avail / want);
  };
  limit(round_page(req.low_gm), available(Resource::Aperture));
  limit(round_page(req.high_gm), available(Resource::Hidden));
  limit(req.fences, available(Resource::Fence));
  return n == std::numeric_limits<uint64_t>::max() ? 0 : n;
}

bool Partitioner::offered(const ResourceRequest& req) const {
  return req.low_gm != 0 && req.low_gm <= geo_.aperture_size - geo_.host.low_gm;
}

Expected<VgpuResources, AllocError> Partitioner::allocate(const ResourceRequest& req) {
  const uint64_t low = round_page(req.low_gm), high = round_page(req.high_gm);
  // Accounting first, like upstream GVT, so the error names the pool that is short.
  if (low > available(Resource::Aperture))
    return Unexpected(AllocError{Resource::Aperture, low, available(Resource::Aperture), geo_.aperture_size});
  if (high > available(Resource::Hidden))
    return Unexpected(AllocError{Resource::Hidden, high, available(Resource::Hidden), geo_.hidden_size()});
  if (req.fences > available(Resource::Fence))
    return Unexpected(AllocError{Resource::Fence, req.fences, available(Resource::Fence), geo_.fence_count});

  VgpuResources res;
  // A type without hidden GM still gets a well-formed (empty) hidden slice where hidden GM
  // starts, so the guest's ballooning checks accept it.
  res.hidden.begin = Gma(geo_.aperture_size);
  const GmRange aperture_window{Gma(0), geo_.aperture_size};
  const GmRange hidden_window{Gma(geo_.aperture_size), geo_.hidden_size()};
  if (low && gm_.allocate(low, kPageSize, aperture_window, false, res.aperture) != PlaceStatus::Ok)
    return Unexpected(AllocError{Resource::Aperture, low, gm_.largest_gap(aperture_window), geo_.aperture_size, true});
  if (high && gm_.allocate(high, kPageSize, hidden_window, true, res.hidden) != PlaceStatus::Ok) {
    if (low) gm_.release(res.aperture.begin);  // roll back in reverse order
    return Unexpected(AllocError{Resource::Hidden, high, gm_.largest_gap(hidden_window), geo_.hidden_size(), true});
  }
  for (uint32_t i = 0; i < fence_used_.size() && res.fences.size() < req.fences; ++i) {
    if (fence_used_[i]) continue;
    fence_used_[i] = true;
    res.fences.push_back(i);
  }
  low_allocated_ += low;
  high_allocated_ += high;
  fences_allocated_ += req.fences;
  return res;
}

void Partitioner::release(const VgpuResources& res) {
  if (res.aperture.size && gm_.release(res.aperture.begin)) low_allocated_ -= res.aperture.size;
  if (res.hidden.size && gm_.release(res.hidden.begin)) high_allocated_ -= res.hidden.size;
  for (uint32_t f : res.fences) {
    if (f < fence_used_.size() && fence_used_[f]) {
      fence_used_[f] = false;
      --fences_allocated_;
    }
  }
}

}  // namespace vgd
