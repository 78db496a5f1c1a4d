// What a person would see on a vGPU's monitor: the first active pipe's primary plane with its
// sprite and cursor composed on top, decoded and read through the GGTT like any consumer would.
#pragma once

#include <string>

#include "fb/image.h"
#include "util/expected.h"
#include "vgpu/vgpu.h"

namespace vgd {

struct Picture {
  fb::Image image;
  hw::Pipe pipe = hw::Pipe::A;
  bool sprite = false, cursor = false;
};

// Fails with a reason when the display is off or a plane cannot be shown safely.
Expected<Picture, std::string> compose_display(const Vgpu& v);

}  // namespace vgd
