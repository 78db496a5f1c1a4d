// What the pipe shows: each plane rendered to an Image, then planes stacked (primary, sprite,
// cursor) the way the display engine blends them.
#pragma once

#include <cstdint>
#include <string>

#include "decode/plane.h"
#include "fb/image.h"
#include "fb/view.h"
#include "util/expected.h"

namespace vgd::fb {

// The window a plane shows (its x/y offset inside the surface, width × height pixels),
// detiled and converted to 0xAARRGGBB; formats without alpha come out opaque.
Expected<Image, std::string> render_plane(const decode::PlaneInfo& plane, const PlaneView& view);

// Stacks sprite and cursor (either may be null) over primary at the given positions of the
// primary's top-left corner, source-over. Alpha is taken as straight (non-premultiplied): that
// is what the planes hold unless PLANE_CTL alpha mode 3 (premultiplied) is set, which the decoder
// does not report. Planes may stick out on any side (negative positions too) and are clipped
// to the primary. The result is opaque: the pipe blends the primary over its black background.
Image compose(const Image& primary, const Image* sprite, int32_t sprite_x, int32_t sprite_y, const Image* cursor,
              int32_t cursor_x, int32_t cursor_y);

// Source-over of one straight-alpha pixel onto an opaque one (exposed for tests).
uint32_t blend_over(uint32_t dst, uint32_t src);

}  // namespace vgd::fb
