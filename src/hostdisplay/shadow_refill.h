// Refilling a shadow framebuffer from the guest plane it stands for (docs/direct-flip.md, Shadow
// framebuffers): the guest's bytes copied (detiled when tiled) or converted into the buffer's
// format, the whole picture or only the tiles that changed; and, when the host plane cannot
// take the guest's picture at all, primary, sprite and cursor composed and scaled into it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "decode/plane.h"
#include "fb/image.h"
#include "fb/view.h"
#include "hostdisplay/host_display.h"
#include "hostdisplay/shadow_damage.h"
#include "util/expected.h"

namespace vgd::hostdisplay {

struct RefillStats {
  uint64_t bytes = 0;   // written into the shadow
  uint32_t rects = 0;   // rectangles of tiles refilled (1 for a whole refill)
  bool whole = false;   // the whole picture, asked for or because most of it changed
};

// Above this share of the picture in damaged tiles one whole refill is cheaper than many
// rectangles (and a guest redrawing its screen gains nothing from tiles).
inline constexpr double kWholeRefillFraction = 0.5;

class Refiller {
 public:
  // Brings `region` of dst (in the plane's pixels: dst's (0,0) is the plane's top-left shown
  // pixel) up to what the guest plane shows now. dst has the guest's format (a copy) or
  // XRGB8888 / ARGB8888 (a conversion), linear, and at least the plane's size. Refused, with
  // the reason, when the plane's window is not all in view's bytes or the formats do not match.
  Expected<RefillStats, std::string> refill(const decode::PlaneInfo& plane, const fb::PlaneView& view, Buffer& dst,
                                            const Region& region);

 private:
  std::vector<std::byte> scratch_;  // detiled rows awaiting conversion, kept between refills
};

// The largest rectangle of src's aspect ratio that fits a dst_w × dst_h picture, centred
// (black bars on the two other sides).
Rect fit_rect(uint32_t src_w, uint32_t src_h, uint32_t dst_w, uint32_t dst_h);

// src scaled bilinearly into `into` of a dst picture (0xAARRGGBB words, dst_stride words a row),
// sampling at pixel centres with the edges clamped, vertically then horizontally (each rounded,
// 8-bit weights): a same-size scale copies exactly and a halving averages each 2 × 2 block.
void scale_bilinear(const fb::Image& src, uint32_t* dst, size_t dst_stride, Rect into);

struct ComposeSources {
  const decode::PlaneInfo* primary = nullptr;
  const fb::PlaneView* primary_view = nullptr;
  const decode::PlaneInfo* sprite = nullptr;  // null: off (or on an overlay plane)
  const fb::PlaneView* sprite_view = nullptr;
  const decode::PlaneInfo* cursor = nullptr;  // null: off (or on the host's cursor plane)
  const fb::PlaneView* cursor_view = nullptr;
};

// The fallback for a pipe the host plane cannot show as it is: the planes composed as the pipe
// blends them (fb::compose, at the primary's size), then scaled (aspect kept, fit_rect) into
// the whole of dst (XRGB8888 or ARGB8888, linear), black around it. Always the whole picture.
Expected<RefillStats, std::string> compose_scaled(const ComposeSources& src, Buffer& dst);

}  // namespace vgd::hostdisplay
