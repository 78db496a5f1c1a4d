// A CPU image: what a plane shows after detiling and conversion, and what composition and the
// PNG writer work on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vgd::fb {

struct Image {
  uint32_t width = 0, height = 0;
  std::vector<uint32_t> px;  // row-major, width × height values 0xAARRGGBB (straight alpha)

  uint32_t& at(uint32_t x, uint32_t y) { return px[size_t{y} * width + x]; }
  const uint32_t& at(uint32_t x, uint32_t y) const { return px[size_t{y} * width + x]; }
};

}  // namespace vgd::fb
