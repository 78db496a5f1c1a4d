// What the screen must show after each of vgpu-kmstest's steps (docs/vm.md, "vgpu-kmstest"),
// derived from its output lines alone: the host tests compare a vGPU's composed frame with it,
// and the program itself compares vkms's writeback output with it (--check-writeback). Pure.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

#include "kmstest/patterns.h"
#include "kmstest/report.h"

namespace vgd::kmstest {

struct Layer {
  Pattern pattern = Pattern::A;
  int32_t x = 0, y = 0;  // on the CRTC; may be negative (clipped)
  uint32_t width = 0, height = 0;
};

struct Scene {
  bool on = false;
  uint32_t width = 0, height = 0;  // the mode; the primary plane covers it all
  Pattern primary = Pattern::A;
  std::optional<Layer> overlay, cursor;
};

// The CRTC's pixel at (x, y) as XRGB8888 with X = 0xff: the cursor over the overlay over the
// primary. The cursor's pixels are either opaque or fully transparent (premultiplied zero), so
// the composition is exact for any blender.
inline uint32_t scene_pixel(const Scene& s, uint32_t x, uint32_t y) {
  const auto inside = [&](const Layer& l, uint32_t& lx, uint32_t& ly) {
    const int64_t dx = int64_t{x} - l.x, dy = int64_t{y} - l.y;
    if (dx < 0 || dy < 0 || dx >= l.width || dy >= l.height) return false;
    lx = static_cast<uint32_t>(dx);
    ly = static_cast<uint32_t>(dy);
    return true;
  };
  uint32_t lx = 0, ly = 0;
  if (s.cursor && inside(*s.cursor, lx, ly)) {
    const uint32_t px = pattern_pixel(s.cursor->pattern, lx, ly);
    if (px >> 24) return px | 0xff000000u;
  }
  if (s.overlay && inside(*s.overlay, lx, ly)) return pattern_pixel(s.overlay->pattern, lx, ly);
  return pattern_pixel(s.primary, x, y);
}

namespace scene_detail {
template <typename T>
std::optional<T> number(const ReportLine& l, std::string_view key) {
  const auto v = l.get(key);
  T out{};
  if (!v || std::from_chars(v->data(), v->data() + v->size(), out).ec != std::errc{}) return std::nullopt;
  return out;
}
}  // namespace scene_detail

// Applies one step line to the scene; false when the line lacks what its step needs.
inline bool apply_step(Scene& s, const ReportLine& l) {
  using scene_detail::number;
  if (l.kind != "step") return false;
  const auto name = l.get("pattern");
  const auto found = name ? pattern_named(*name) : std::nullopt;
  const Pattern pattern = found.value_or(Pattern::A);  // a plain copy: GCC 12 misjudges optional<enum>
  const auto w = number<uint32_t>(l, "width"), h = number<uint32_t>(l, "height");
  if (l.name == "off") {
    s = Scene{};
    return true;
  }
  if (!found || !w || !h) return false;
  if (l.name == "modeset" || l.name == "mode") {  // a new mode: the primary alone
    s = Scene{true, *w, *h, pattern, std::nullopt, std::nullopt};
    return true;
  }
  if (l.name == "flip") {
    s.primary = pattern;
    return true;
  }
  const auto x = number<int32_t>(l, "x"), y = number<int32_t>(l, "y");
  if (!x || !y) return false;
  const Layer layer{pattern, *x, *y, *w, *h};
  if (l.name == "cursor") s.cursor = layer;
  else if (l.name == "overlay") s.overlay = layer;
  else return false;
  return true;
}

}  // namespace vgd::kmstest
