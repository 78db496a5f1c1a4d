#include "vgpu/vgpu.h"

#include <spdlog/spdlog.h>

#include "hw/bar.h"
#include "hw/pvinfo.h"
#include "vgpu/gpu.h"

namespace vgd {

const char* describe(FailsafeReason r) {
  switch (r) {
    case FailsafeReason::InsufficientResource: return "guest reported insufficient resources";
    case FailsafeReason::UnsupportedGuest: return "unsupported guest (not PV-aware)";
  }
  return "?";
}

Vgpu::Vgpu(Gpu& gpu, uint32_t id, VgpuType type, VgpuResources res, std::shared_ptr<GuestRam> ram,
           VregFile vregs, GgttView ggtt)
    : gpu_(&gpu),
      id_(id),
      type_(std::move(type)),
      res_(std::move(res)),
      ram_(std::move(ram)),
      vregs_(std::move(vregs)),
      ggtt_(std::move(ggtt)),
      bus_(hw::bar0_size(gpu.geometry().ggtt_size), vregs_),
      pvinfo_(*this, vregs_),
      fences_(*this, vregs_, gpu.host_fences_, res_.fences),
      gtt_(*this, ggtt_, *ram_) {
  // The bus rejects only overlapping or out-of-BAR ranges; these are fixed and disjoint.
  bool ok = bus_.add(MmioOffset(hw::kPvinfoOffset), hw::kPvinfoSize, pvinfo_) &&
            bus_.add(MmioOffset(hw::kFenceBase), hw::kMaxFences * hw::kFenceStride, fences_) &&
            bus_.add(MmioOffset(hw::kGttOffset), bus_.bar_size() - hw::kGttOffset, gtt_);
  if (!ok) spdlog::critical("vgpu {}: fixed MMIO layout rejected by the bus", id_);
  pvinfo_.populate(res_);
}

Vgpu::~Vgpu() { fences_.clear(); }

void Vgpu::reset() {
  vregs_.clear();
  ggtt_.clear();
  fences_.clear();
  pvinfo_.populate(res_);
  failsafe_.reset();
  pv_aware_ = false;
  bus_.set_muted(hw::RegBlock::Display, false);
  spdlog::info("vgpu {}: device-model reset", id_);
}

uint32_t Vgpu::display_ready() const { return vregs_.read32(hw::kPvinfoOffset + hw::pv::kDisplayReady); }

void Vgpu::enter_failsafe(FailsafeReason r) {
  if (failsafe_) return;
  failsafe_ = r;
  // Keep serving the guest, but its display programming no longer drives anything.
  bus_.set_muted(hw::RegBlock::Display, true);
  spdlog::warn("vgpu {}: failsafe mode: {}; display programming is ignored from now on", id_, describe(r));
  emit(FailsafeEvent{id_, r});
}

void Vgpu::emit(const MgmtEvent& e) {
  if (gpu_->sink_) gpu_->sink_(e);
}

}  // namespace vgd
