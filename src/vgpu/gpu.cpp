#include "vgpu/gpu.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <set>

namespace vgd {

Gpu::Gpu(GpuConfig cfg) : cfg_(std::move(cfg)), part_(cfg_.geometry), host_fences_(cfg_.geometry.fence_count, 0) {}

Gpu::~Gpu() = default;

Expected<std::unique_ptr<Gpu>, std::string> Gpu::create(GpuConfig cfg) {
  if (auto err = cfg.geometry.validate(); !err.empty()) return Unexpected(err);
  std::set<std::string_view> names;
  for (const VgpuType& t : cfg.types) {
    if (auto err = t.validate(); !err.empty()) return Unexpected(err);
    if (!names.insert(t.name).second) return Unexpected(fmt::format("vGPU type {} defined twice", t.name));
  }
  return std::unique_ptr<Gpu>(new Gpu(std::move(cfg)));
}

const VgpuType* Gpu::find_type(std::string_view name) const {
  for (const VgpuType& t : cfg_.types)
    if (t.name == name) return &t;
  return nullptr;
}

display::VblankClock* Gpu::least_used_clock() const {
  display::VblankClock* best = nullptr;
  size_t best_use = SIZE_MAX;
  for (display::VblankClock* c : clocks_) {
    const auto use = static_cast<size_t>(
        std::count_if(vgpus_.begin(), vgpus_.end(), [c](const auto& kv) { return kv.second->vblank_clock() == c; }));
    if (use < best_use) best = c, best_use = use;
  }
  return best;
}

uint32_t Gpu::next_id() const {
  uint32_t id = 1;  // 0 is the host's idle vGPU in GVT-g; ids are reused lowest-first
  for (const auto& [used, v] : vgpus_) {
    if (used != id) break;
    ++id;
  }
  return id;
}

Expected<Vgpu*, CreateError> Gpu::create_vgpu(std::string_view type_name, std::shared_ptr<GuestRam> ram) {
  using K = CreateError::Kind;
  const VgpuType* type = find_type(type_name);
  if (!type) return Unexpected(CreateError{K::UnknownType, fmt::format("unknown vGPU type {}", type_name), {}});
  if (!ram) return Unexpected(CreateError{K::Internal, "a vGPU needs its VM's RAM", {}});
  if (!part_.offered(type->resources))
    return Unexpected(CreateError{
        K::NotOffered,
        fmt::format("type {} is not offered: it needs {} MiB of aperture, the host leaves {} MiB", type->name,
                    type->resources.low_gm / kMiB, (geometry().aperture_size - geometry().host.low_gm) / kMiB),
        {}});
  auto res = part_.allocate(type->resources);
  if (!res) {
    auto msg = fmt::format("cannot create a {}: {}", type->name, res.error().message());
    return Unexpected(CreateError{K::Resources, std::move(msg), res.error()});
  }
  auto internal = [&](const std::string& why) {
    part_.release(*res);
    return Unexpected(CreateError{K::Internal, why, {}});
  };
  auto vregs = VregFile::create();
  if (!vregs) return internal(vregs.error());
  auto ggtt = GgttView::create(res->aperture, res->hidden);
  if (!ggtt) return internal(ggtt.error());
  const uint32_t id = next_id();
  auto v = std::unique_ptr<Vgpu>(
      new Vgpu(GpuKey{}, *this, least_used_clock(), geometry().ggtt_size, id, *type, std::move(*res), std::move(ram), std::move(*vregs),
               std::move(*ggtt)));
  Vgpu* raw = v.get();
  vgpus_.emplace(id, std::move(v));
  const auto& r = raw->resources();
  spdlog::info("vgpu {}: created {} aperture [{:#x}, {:#x}) hidden [{:#x}, {:#x}) fences {}", id, type->name,
               r.aperture.begin.value(), r.aperture.end().value(), r.hidden.begin.value(), r.hidden.end().value(),
               r.fences.size());
  return raw;
}

bool Gpu::destroy_vgpu(uint32_t id) {
  auto it = vgpus_.find(id);
  if (it == vgpus_.end()) return false;
  VgpuResources res = it->second->resources();
  vgpus_.erase(it);  // clears its host fences first
  part_.release(res);
  spdlog::info("vgpu {}: destroyed", id);
  return true;
}

Vgpu* Gpu::vgpu(uint32_t id) const {
  auto it = vgpus_.find(id);
  return it == vgpus_.end() ? nullptr : it->second.get();
}

std::vector<Vgpu*> Gpu::vgpus() const {
  std::vector<Vgpu*> out;
  out.reserve(vgpus_.size());
  for (const auto& [id, v] : vgpus_) out.push_back(v.get());
  return out;
}

}  // namespace vgd
