#include "directflip/plane_feed.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace vgd::directflip {

using hostdisplay::Region;

Expected<Fed, std::string> PlaneFeed::import(const decode::PlaneInfo& p, const std::shared_ptr<GuestRam>& ram) {
  if (p.pages.empty() || !ram || ram->fd() < 0) return Unexpected(std::string("no guest pages to import"));
  for (size_t i = 1; i < p.pages.size(); ++i)
    if (p.pages[i].value() != p.pages[0].value() + i * 4096)
      return Unexpected(std::string("the surface's pages are not contiguous in guest RAM"));
  hostdisplay::BufferLayout l;
  l.width = p.x_offset + p.width;
  l.height = p.y_offset + p.height;
  l.format = {p.fourcc, p.modifier};
  l.pitch[0] = p.stride;
  l.offset[0] = p.pages[0].value();
  const Fed shown{nullptr, p.width, p.height, p.x_offset, p.y_offset, std::nullopt, 0};
  auto same = [&](const Import& i) {
    return i.ram == ram.get() && i.offset == l.offset[0] && i.layout.width == l.width && i.layout.height == l.height &&
           i.layout.format == l.format && i.layout.pitch[0] == l.pitch[0];
  };
  if (auto it = std::find_if(imports_.begin(), imports_.end(), same); it != imports_.end()) {
    std::rotate(it, it + 1, imports_.end());  // most recently used last
    Fed f = shown;
    f.buffer = imports_.back().buffer;
    return f;
  }
  auto b = display_->import(ram->fd(), l);
  if (!b) return Unexpected(b.error());
  if (imports_.size() == kCachedImports) imports_.erase(imports_.begin());
  imports_.push_back(Import{l.offset[0], l, ram.get(), *b});
  last_refilled_.reset();
  Fed f = shown;
  f.buffer = *b;
  return f;
}

Expected<hostdisplay::ShadowRing*, std::string> PlaneFeed::ring_for(uint32_t width, uint32_t height, uint32_t fourcc) {
  if (!ring_ || ring_w_ != width || ring_h_ != height || ring_fourcc_ != fourcc) {
    ring_.reset();
    auto r = hostdisplay::ShadowRing::create(*display_, width, height, fourcc);
    if (!r) return Unexpected(r.error());
    ring_.emplace(std::move(*r));
    ring_w_ = width, ring_h_ = height, ring_fourcc_ = fourcc;
    last_refilled_.reset();
  }
  return &*ring_;
}

Expected<Fed, std::string> PlaneFeed::acquire(uint32_t width, uint32_t height, uint32_t fourcc, const Region& damage) {
  auto ring = ring_for(width, height, fourcc);
  if (!ring) return Unexpected(ring.error());
  (*ring)->note_frame(damage);
  auto a = (*ring)->acquire();
  if (!a) return Unexpected(std::string("every shadow buffer is on screen or pending"));
  Fed f{a->buffer, width, height, 0, 0, a->index, 0};
  pending_refill_ = std::move(a->refill);
  return f;
}

Expected<Fed, std::string> PlaneFeed::refill(const decode::PlaneInfo& p, const fb::PlaneView& view, uint32_t fourcc,
                                             const Region& damage) {
  const auto key = std::make_tuple(p.fourcc, p.modifier, p.width, p.height, p.stride);
  const bool continuous = last_refilled_ == key;
  auto f = acquire(p.width, p.height, fourcc, continuous ? damage : Region::whole_picture());
  if (!f) return f;
  if (!continuous) ring_->invalidate();
  const Region region = continuous ? pending_refill_ : Region::whole_picture();
  auto st = refiller_.refill(p, view, *f->buffer, region);
  if (!st) {
    ring_->abandon(*f->slot);
    last_refilled_.reset();
    return Unexpected(st.error());
  }
  last_refilled_ = key;
  f->bytes = st->bytes;
  return f;
}

Expected<Fed, std::string> PlaneFeed::compose(const hostdisplay::ComposeSources& src, uint32_t width, uint32_t height) {
  auto f = acquire(width, height, hw::drm::kXRGB8888, Region::whole_picture());
  if (!f) return f;
  last_refilled_.reset();
  auto st = hostdisplay::compose_scaled(src, *f->buffer);
  if (!st) {
    ring_->abandon(*f->slot);
    return Unexpected(st.error());
  }
  f->bytes = st->bytes;
  return f;
}

void PlaneFeed::submitted(const Fed& f) {
  if (f.slot && ring_) ring_->submitted(*f.slot);
}

void PlaneFeed::abandon(const Fed& f) {
  if (f.slot && ring_) ring_->abandon(*f.slot);  // the ring keeps the frame's damage for the next
}

void PlaneFeed::latched(uint32_t fb_id) {
  if (ring_) ring_->latched(fb_id);
}

}  // namespace vgd::directflip
