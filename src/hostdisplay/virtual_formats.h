// What the virtual monitor's planes scan out (docs/direct-flip.md, Virtual monitor): every format
// and tiling the framebuffer layer can detile, convert and compose, in one place. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hostdisplay/host_display.h"
#include "hw/formats.h"

namespace vgd::hostdisplay::vmon {

// Primary and overlay: every fourcc fb::row_converter converts except C8 (which needs a
// palette), with every modifier fb::detile reads.
std::vector<FormatModifier> plane_formats();
// The cursor: ARGB8888, linear, as on every KMS cursor plane.
std::vector<FormatModifier> cursor_formats();

// The tiling of a modifier, nothing for one we do not read.
std::optional<hw::Tiling> tiling_of(uint64_t modifier);

// Bytes of plane 0 that a layout needs from its offset: pitch × height, the height rounded up
// to whole tile rows for tiled layouts.
uint64_t layout_bytes(const BufferLayout& layout);

// Why `layout` cannot be shown from `available` bytes (from plane 0's offset): unknown format
// or modifier, pitch too small or not whole tiles, more than one memory plane, too few bytes.
std::optional<std::string> layout_error(const BufferLayout& layout, uint64_t available);

}  // namespace vgd::hostdisplay::vmon
