// What one host plane is given for a guest frame (docs/direct-flip.md, The engine): the guest's
// pages imported as they are (cached per guest surface, so a surface on screen is never touched
// again), or a buffer of a ShadowRing refilled from them, or the pipe composed and scaled into
// one. The PipeLink decides which (shadow_plan.h); the feed does it and keeps the ring's books.
// Not thread-safe: its PipeLink's rule (pipe_link.h, Threads).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "decode/plane.h"
#include "fb/view.h"
#include "hostdisplay/host_display.h"
#include "hostdisplay/shadow_refill.h"
#include "hostdisplay/shadow_ring.h"
#include "memory/guest_ram.h"
#include "util/expected.h"

namespace vgd::directflip {

// A buffer for a host plane and the window of it to show, in pixels.
struct Fed {
  hostdisplay::BufferRef buffer;
  uint32_t src_w = 0, src_h = 0;
  uint32_t src_x = 0, src_y = 0;
  std::optional<uint32_t> slot;  // the shadow ring's buffer, until submitted or abandoned
  uint64_t bytes = 0;            // copied into it
};

class PlaneFeed {
 public:
  explicit PlaneFeed(hostdisplay::HostDisplay& display) : display_(&display) {}

  // The guest's pages without a copy: one memfd range (the pages must be contiguous in RAM).
  Expected<Fed, std::string> import(const decode::PlaneInfo& p, const std::shared_ptr<GuestRam>& ram);
  // A shadow in `fourcc` (the guest's own: a copy; XRGB/ARGB8888: a conversion), brought up to
  // date where `damage` says the guest plane changed since the previous frame.
  Expected<Fed, std::string> refill(const decode::PlaneInfo& p, const fb::PlaneView& view, uint32_t fourcc,
                                    const hostdisplay::Region& damage);
  // The pipe composed and scaled into a width × height shadow (the fallback).
  Expected<Fed, std::string> compose(const hostdisplay::ComposeSources& src, uint32_t width, uint32_t height);

  // The shadow buffer of `f` was committed / will not be shown.
  void submitted(const Fed& f);
  void abandon(const Fed& f);
  // The plane now shows framebuffer fb_id (0: off).
  void latched(uint32_t fb_id);
  void drop_imports() { imports_.clear(); }

 private:
  struct Import {
    uint64_t offset = 0;
    hostdisplay::BufferLayout layout;
    const GuestRam* ram = nullptr;
    hostdisplay::BufferRef buffer;
  };
  // The ring for width × height in fourcc, made anew when they changed (contents unknown).
  Expected<hostdisplay::ShadowRing*, std::string> ring_for(uint32_t width, uint32_t height, uint32_t fourcc);
  Expected<Fed, std::string> acquire(uint32_t width, uint32_t height, uint32_t fourcc, const hostdisplay::Region& damage);

  static constexpr size_t kCachedImports = 4;  // a guest's triple buffering and one spare

  hostdisplay::HostDisplay* display_;
  std::vector<Import> imports_;  // most recently used last
  std::optional<hostdisplay::ShadowRing> ring_;
  uint32_t ring_w_ = 0, ring_h_ = 0, ring_fourcc_ = 0;
  // What the ring's history describes: damage is relative to the previous refill of this plane
  // only when the frame before was a refill of the same geometry.
  std::optional<std::tuple<uint32_t, uint64_t, uint32_t, uint32_t, uint32_t>> last_refilled_;
  hostdisplay::Refiller refiller_;
  hostdisplay::Region pending_refill_;  // what the buffer acquire() gave needs
};

}  // namespace vgd::directflip
