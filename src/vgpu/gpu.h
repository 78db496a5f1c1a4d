// The host GPU: one graphics-memory space and fence file shared by every vGPU. Creates vGPUs of
// a type (all-or-nothing resource allocation, clear error when short), destroys them, and
// forwards their management events (display ready, failsafe) to one sink.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "memory/guest_ram.h"
#include "memory/partition.h"
#include "util/expected.h"
#include "mmio/device_context.h"
#include "vgpu/types.h"
#include "vgpu/vgpu.h"

namespace vgd {
namespace display {
class VblankClock;
}

struct GpuConfig {
  GpuGeometry geometry{};
  std::vector<VgpuType> types = standard_types();
};

struct CreateError {
  enum class Kind : uint8_t { UnknownType, NotOffered, Resources, Internal } kind;
  std::string message;
  std::optional<AllocError> resources;  // set for Kind::Resources
};

class Gpu final : private GpuLink {
 public:
  static Expected<std::unique_ptr<Gpu>, std::string> create(GpuConfig cfg);
  Gpu(const Gpu&) = delete;
  Gpu& operator=(const Gpu&) = delete;
  ~Gpu();

  const GpuGeometry& geometry() const { return cfg_.geometry; }
  const std::vector<VgpuType>& types() const { return cfg_.types; }
  const VgpuType* find_type(std::string_view name) const;
  std::vector<TypeAvailability> availability() const { return vgd::availability(cfg_.types, part_); }
  const Partitioner& partitioner() const { return part_; }

  Expected<Vgpu*, CreateError> create_vgpu(std::string_view type_name, std::shared_ptr<GuestRam> ram);
  bool destroy_vgpu(uint32_t id);
  Vgpu* vgpu(uint32_t id) const;
  std::vector<Vgpu*> vgpus() const;  // by id

  uint64_t host_fence(uint32_t index) const { return host_fences_.at(index); }
  // Called from the thread of the vGPU that emits (vGPUs may run on several threads at once).
  void set_event_sink(MgmtSink sink) { sink_ = std::move(sink); }
  // Drive the vGPUs' vblanks; attach before creating vGPUs. Not owned: they must outlive the
  // vGPUs (which leave their clock when destroyed). With several clocks (one per dispatching
  // thread) each new vGPU goes to the one driving the fewest, and stays there.
  void set_vblank_clock(display::VblankClock* clock) { clocks_ = {clock}; }
  void set_vblank_clocks(std::vector<display::VblankClock*> clocks) { clocks_ = std::move(clocks); }

 private:
  explicit Gpu(GpuConfig cfg);
  uint32_t next_id() const;
  std::span<uint64_t> host_fences() override { return host_fences_; }
  display::VblankClock* least_used_clock() const;
  void emit(const MgmtEvent& e) override {
    if (sink_) sink_(e);
  }

  GpuConfig cfg_;
  Partitioner part_;
  std::vector<uint64_t> host_fences_;
  std::map<uint32_t, std::unique_ptr<Vgpu>> vgpus_;
  MgmtSink sink_;
  std::vector<display::VblankClock*> clocks_;
};

}  // namespace vgd
