// What a viewer shows while the guest's display is off (pipe disabled, or no usable primary
// plane): a dark screen that says so, in the guest's own font, so that a stale last frame is
// never taken for a live one. Pure.
#pragma once

#include <cstdint>
#include <string_view>

#include "fb/image.h"

namespace vgd::viewers {

inline constexpr uint32_t kDisplayOffBackground = 0xFF202428;
inline constexpr uint32_t kDisplayOffTitle = 0xFFE8E8E8;
inline constexpr uint32_t kDisplayOffDetail = 0xFF98A0A8;

// width × height (each at least 1), "display off" centred and `detail` (one line, may be
// empty) smaller below it; text that does not fit is clipped.
fb::Image render_display_off(uint32_t width, uint32_t height, std::string_view detail = {});

}  // namespace vgd::viewers
