#include "guest/driver.h"

#include "hw/bar.h"
#include "hw/pvinfo.h"

namespace vgd::guest {

namespace pv = hw::pv;

Error Driver::probe() {
  const uint64_t magic = mmio_->read(MmioOffset(hw::kPvinfoOffset + pv::kMagic), 8);
  if (magic != hw::kPvinfoMagic) return Error::NotVgpu;
  const auto major = static_cast<uint16_t>(mmio_->read(MmioOffset(hw::kPvinfoOffset + pv::kVersionMajor), 2));
  if (major < 1) return Error::VersionMismatch;
  auto field = [&](uint64_t off) { return mmio_->read32(hw::kPvinfoOffset + off); };
  res_.caps = field(pv::kVgtCaps);
  res_.vgt_id = field(pv::kVgtId);
  res_.mappable = GmRange{Gma(field(pv::kMappableBase)), field(pv::kMappableSize)};
  res_.nonmappable = GmRange{Gma(field(pv::kNonmappableBase)), field(pv::kNonmappableSize)};
  res_.fence_num = field(pv::kFenceNum);
  state_ = State::Detected;
  return Error::None;
}

Error Driver::balloon() {
  if (state_ == State::Fresh) return Error::NotDetected;
  if (state_ == State::Ballooned) return Error::None;
  const GgttGeometry geo{platform_.ggtt_size, platform_.aperture_size};
  if (Error e = plan_balloon(res_, geo, plan_); e != Error::None) return e;
  gm_ = RangeAllocator<Gma, kMaxBuffers + 4>(GmRange{Gma(0), geo.total});
  reserved_bytes_ = 0;
  for (size_t k = 0; k < kBalloonOrder.size(); ++k) {
    const GmRange h = plan_.holes[static_cast<size_t>(kBalloonOrder[k])];
    if (h.size == 0) continue;
    if (gm_.reserve(h) != PlaceStatus::Ok) {
      for (size_t j = k; j-- > 0;) {  // release what was reserved, newest first
        const GmRange r = plan_.holes[static_cast<size_t>(kBalloonOrder[j])];
        if (r.size && gm_.release(r.begin)) reserved_bytes_ -= r.size;
      }
      return Error::BalloonFailed;
    }
    reserved_bytes_ += h.size;
  }
  state_ = State::Ballooned;
  return Error::None;
}

void Driver::deballoon() {
  if (state_ != State::Ballooned) return;
  for (const GmRange& h : plan_.holes)
    if (h.size && gm_.release(h.begin)) reserved_bytes_ -= h.size;
  state_ = State::Detected;
}

void Driver::bind(const Buffer& b, bool present) {
  const uint64_t pages = b.size / kPageSize;
  for (uint64_t i = 0; i < pages; ++i) {
    const uint64_t pte = present ? hw::pte::make((b.gpa + i * kPageSize).page()) : 0;
    mmio_->write(hw::gtt_entry_offset(b.gm.page() + i), 8, pte);
  }
}

Error Driver::alloc_buffer(uint64_t size, Placement where, Buffer& out) {
  if (state_ != State::Ballooned) return Error::NotBallooned;
  if (size == 0) return Error::BadArgument;
  size = align_up(size, kPageSize);
  const GmRange window = where == Placement::Aperture
                             ? GmRange{Gma(0), platform_.aperture_size}
                             : GmRange{Gma(platform_.aperture_size), platform_.ggtt_size - platform_.aperture_size};
  GmRange gm{};
  switch (gm_.allocate(size, kPageSize, window, false, gm)) {
    case PlaceStatus::Ok: break;
    case PlaceStatus::TableFull: return Error::TooManyBuffers;
    default: return Error::NoGmSpace;
  }
  GpaRange backing{};
  if (PlaceStatus s = ram_alloc_.allocate(size, kPageSize, platform_.free_ram, false, backing); s != PlaceStatus::Ok) {
    gm_.release(gm.begin);
    return s == PlaceStatus::TableFull ? Error::TooManyBuffers : Error::NoRamSpace;
  }
  out = Buffer{gm.begin, backing.begin, size};
  bind(out, true);
  return Error::None;
}

Error Driver::free_buffer(const Buffer& b) {
  if (state_ != State::Ballooned) return Error::NotBallooned;
  if (!gm_.release(b.gm)) return Error::BadArgument;
  bind(b, false);
  ram_alloc_.release(b.gpa);
  return Error::None;
}

Error Driver::set_fence(uint32_t index, uint64_t value) {
  if (state_ == State::Fresh) return Error::NotDetected;
  if (index >= res_.fence_num) return Error::FenceNotOwned;
  mmio_->write(MmioOffset(hw::kFenceBase + index * hw::kFenceStride), 8, value);
  return Error::None;
}

Error Driver::set_display_ready(bool ready) {
  if (state_ == State::Fresh) return Error::NotDetected;
  mmio_->write32(hw::kPvinfoOffset + pv::kDisplayReady,
                 static_cast<uint32_t>(ready ? hw::DisplayReady::Ready : hw::DisplayReady::NotReady));
  return Error::None;
}

}  // namespace vgd::guest
