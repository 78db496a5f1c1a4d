#include "viewers/display_off.h"

#include <algorithm>

#include "guest/font.h"

namespace vgd::viewers {
namespace {

void draw_text(fb::Image& img, int64_t x, int64_t y, std::string_view text, uint32_t scale, uint32_t argb) {
  for (char ch : text) {
    const uint8_t* rows = guest::font::glyph(ch);
    for (uint32_t gy = 0; gy < guest::font::kHeight; ++gy)
      for (uint32_t gx = 0; gx < guest::font::kWidth; ++gx) {
        if (!(rows[gy] & (0x80u >> gx))) continue;
        for (uint32_t sy = 0; sy < scale; ++sy)
          for (uint32_t sx = 0; sx < scale; ++sx) {
            const int64_t px = x + int64_t{gx} * scale + sx, py = y + int64_t{gy} * scale + sy;
            if (px >= 0 && py >= 0 && px < img.width && py < img.height)
              img.at(static_cast<uint32_t>(px), static_cast<uint32_t>(py)) = argb;
          }
      }
    x += int64_t{guest::font::kWidth} * scale;
  }
}

int64_t centred(uint32_t extent, size_t chars, uint32_t scale) {
  return (int64_t{extent} - static_cast<int64_t>(chars * guest::font::kWidth * scale)) / 2;
}

}  // namespace

fb::Image render_display_off(uint32_t width, uint32_t height, std::string_view detail) {
  fb::Image img;
  img.width = std::max<uint32_t>(width, 1);
  img.height = std::max<uint32_t>(height, 1);
  img.px.assign(size_t{img.width} * img.height, kDisplayOffBackground);
  constexpr std::string_view kTitle = "display off";
  // About a third of the width for the title at 1024 pixels; never below the font's own size.
  const uint32_t scale = std::clamp<uint32_t>(img.width / 256, 1, 8);
  const uint32_t small = std::max<uint32_t>(scale / 2, 1);
  const int64_t title_h = int64_t{guest::font::kHeight} * scale;
  const int64_t y = (int64_t{img.height} - title_h) / 2;
  draw_text(img, centred(img.width, kTitle.size(), scale), y, kTitle, scale, kDisplayOffTitle);
  if (!detail.empty())
    draw_text(img, centred(img.width, detail.size(), small), y + title_h + int64_t{guest::font::kHeight} * small,
              detail, small, kDisplayOffDetail);
  return img;
}

}  // namespace vgd::viewers
