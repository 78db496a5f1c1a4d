// Pixel formats a plane can scan out, converted to 0xAARRGGBB: the colours a guest wrote must be
// the colours a viewer shows (docs/hardware.md, Pixel formats).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <vector>

#include "fb/convert.h"
#include "hw/formats.h"

namespace vgd::fb {
namespace {

namespace drm = hw::drm;

constexpr uint32_t kRed = 0xFF0000, kGreen = 0x00FF00, kBlue = 0x0000FF, kWhite = 0xFFFFFF, kBlack = 0;

// Little-endian bytes of 32-bit or 16-bit pixel values, as the guest stores them.
std::vector<std::byte> le(std::initializer_list<uint32_t> values, unsigned cpp) {
  std::vector<std::byte> out;
  for (uint32_t v : values)
    for (unsigned k = 0; k < cpp; ++k) out.push_back(std::byte{static_cast<uint8_t>(v >> 8 * k)});
  return out;
}

std::vector<uint32_t> convert(uint32_t fourcc, const std::vector<std::byte>& row, Output out, uint32_t x0 = 0,
                              uint32_t width = 0) {
  const RowConverter f = row_converter(fourcc, out);
  EXPECT_NE(f, nullptr);
  if (!f) return {};
  if (width == 0) width = static_cast<uint32_t>(row.size() / format_cpp(fourcc)) - x0;
  std::vector<uint32_t> px(width);
  f(row.data(), x0, width, px.data());
  return px;
}

using Px = std::vector<uint32_t>;

TEST(Convert, Xrgb8888IgnoresTheXByte) {
  const auto row = le({0x5AFF0000, 0x0000FF00, 0x120000FF, 0x00FFFFFF}, 4);
  EXPECT_EQ(convert(drm::kXRGB8888, row, Output::Xrgb), (Px{kRed, kGreen, kBlue, kWhite}));
  EXPECT_EQ(convert(drm::kXRGB8888, row, Output::Argb),
            (Px{0xFF000000 | kRed, 0xFF000000 | kGreen, 0xFF000000 | kBlue, 0xFF000000 | kWhite}));
}

TEST(Convert, Argb8888KeepsAlphaOnlyWhenAskedFor) {
  const auto row = le({0x80FF0000, 0x0000FF00, 0xFF0000FF}, 4);
  EXPECT_EQ(convert(drm::kARGB8888, row, Output::Argb), (Px{0x80FF0000, 0x0000FF00, 0xFF0000FF}));
  EXPECT_EQ(convert(drm::kARGB8888, row, Output::Xrgb), (Px{kRed, kGreen, kBlue}));
}

TEST(Convert, Xbgr8888AndAbgr8888SwapRedAndBlue) {
  // In memory R, G, B, X/A: the value 0x..BBGGRR.
  const auto row = le({0x000000FF, 0x0000FF00, 0x00FF0000, 0x00FFFFFF}, 4);
  EXPECT_EQ(convert(drm::kXBGR8888, row, Output::Xrgb), (Px{kRed, kGreen, kBlue, kWhite}));
  EXPECT_EQ(convert(drm::kXBGR8888, row, Output::Argb)[0], 0xFFFF0000u);
  EXPECT_EQ(convert(drm::kABGR8888, le({0x400000FF, 0x00123456}, 4), Output::Argb), (Px{0x40FF0000, 0x00563412}));
}

TEST(Convert, TenBitFormatsKeepTheTopEightBits) {
  constexpr uint32_t kFull = 0x3FF, kHalf = 0x200;
  EXPECT_EQ(convert(drm::kXRGB2101010, le({kFull << 20, kFull << 10, kFull, 0xC0000000 | kHalf << 20 | kHalf << 10 | kHalf}, 4),
                    Output::Argb),
            (Px{0xFF000000 | kRed, 0xFF000000 | kGreen, 0xFF000000 | kBlue, 0xFF808080}));
  EXPECT_EQ(convert(drm::kXBGR2101010, le({kFull, kFull << 10, kFull << 20, 0x3FFFFFFF}, 4), Output::Xrgb),
            (Px{kRed, kGreen, kBlue, kWhite}));
  // 0x3FC..0x3FF all show as 0xFF; 0x003 still shows as 0.
  EXPECT_EQ(convert(drm::kXRGB2101010, le({0x3FCu << 20 | 0x003}, 4), Output::Xrgb), (Px{kRed}));
}

TEST(Convert, Rgb565ExpandsByBitReplication) {
  const auto row = le({0xF800, 0x07E0, 0x001F, 0xFFFF, 0x0000, 0x8410}, 2);
  // 0x8410: r5 = 0x10 -> 0x84, g6 = 0x20 -> 0x82, b5 = 0x10 -> 0x84.
  EXPECT_EQ(convert(drm::kRGB565, row, Output::Xrgb), (Px{kRed, kGreen, kBlue, kWhite, kBlack, 0x848284}));
  EXPECT_EQ(convert(drm::kRGB565, row, Output::Argb)[4], 0xFF000000u);
}

TEST(Convert, C8ShowsTheIndexAsGreyUntilPalettesAreEmulated) {
  const std::vector<std::byte> row{std::byte{0}, std::byte{0x40}, std::byte{0xFF}};
  EXPECT_EQ(convert(drm::kC8, row, Output::Argb), (Px{0xFF000000, 0xFF404040, 0xFFFFFFFF}));
}

// Macropixel byte positions (Y0, U, Y1, V) of each packed 4:2:2 order.
struct YuvOrder {
  uint32_t fourcc;
  int y0, u, y1, v;
};
constexpr YuvOrder kYuvOrders[] = {
    {drm::kYUYV, 0, 1, 2, 3}, {drm::kUYVY, 1, 0, 3, 2}, {drm::kYVYU, 0, 3, 2, 1}, {drm::kVYUY, 1, 2, 3, 0}};

std::vector<std::byte> macropixel(const YuvOrder& o, uint8_t y0, uint8_t u, uint8_t y1, uint8_t v) {
  std::vector<std::byte> m(4);
  m[o.y0] = std::byte{y0};
  m[o.u] = std::byte{u};
  m[o.y1] = std::byte{y1};
  m[o.v] = std::byte{v};
  return m;
}

void expect_near_rgb(uint32_t got, uint32_t want, int tolerance) {
  for (int shift : {16, 8, 0})
    EXPECT_LE(std::abs(static_cast<int>(got >> shift & 0xFF) - static_cast<int>(want >> shift & 0xFF)), tolerance)
        << std::hex << "got " << got << " want " << want;
}

TEST(Convert, YuvGreyRampMapsStudioSwingToFullRange) {
  for (const YuvOrder& o : kYuvOrders) {
    for (int y = 16; y <= 235; y += 1) {
      const auto px = convert(o.fourcc, macropixel(o, static_cast<uint8_t>(y), 128, static_cast<uint8_t>(y), 128), Output::Xrgb);
      const int grey = ((y - 16) * 255 + 109) / 219;  // (Y - 16) · 255/219, rounded
      ASSERT_EQ(px.size(), 2u);
      expect_near_rgb(px[0], 0x010101u * static_cast<uint32_t>(grey), 1);
      EXPECT_EQ(px[0], px[1]);
    }
    EXPECT_EQ(convert(o.fourcc, macropixel(o, 16, 128, 235, 128), Output::Argb), (Px{0xFF000000, 0xFFFFFFFF}));
    EXPECT_EQ(convert(o.fourcc, macropixel(o, 0, 128, 255, 128), Output::Xrgb), (Px{kBlack, kWhite})) << "clipped";
  }
}

TEST(Convert, YuvPrimariesAndChromaPlacement) {
  // BT.601 studio-swing codes of the primaries (Y, Cb, Cr).
  for (const YuvOrder& o : kYuvOrders) {
    expect_near_rgb(convert(o.fourcc, macropixel(o, 81, 90, 81, 240), Output::Xrgb)[0], kRed, 2);
    expect_near_rgb(convert(o.fourcc, macropixel(o, 145, 54, 145, 34), Output::Xrgb)[0], kGreen, 2);
    expect_near_rgb(convert(o.fourcc, macropixel(o, 41, 240, 41, 110), Output::Xrgb)[0], kBlue, 2);
  }
}

TEST(Convert, YuvPixelPairsShareChromaAndCanStartMidMacropixel) {
  for (const YuvOrder& o : kYuvOrders) {
    auto row = macropixel(o, 16, 128, 235, 128);                // black, white
    const auto second = macropixel(o, 81, 90, 145, 240);        // red-ish, then brighter with the same chroma
    row.insert(row.end(), second.begin(), second.end());
    const auto all = convert(o.fourcc, row, Output::Xrgb);
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[0], kBlack);
    EXPECT_EQ(all[1], kWhite);
    expect_near_rgb(all[2], kRed, 2);
    EXPECT_GT(all[3] >> 8 & 0xFF, all[2] >> 8 & 0xFF) << "second Y of the pair is brighter";
    // Starting at the odd pixel 1 and ending at the even pixel 2 (an odd-width window).
    EXPECT_EQ(convert(o.fourcc, row, Output::Xrgb, 1, 2), (Px{all[1], all[2]}));
  }
}

TEST(Convert, KnowsEveryScanoutFormatAndNothingElse) {
  for (uint32_t f : {drm::kXRGB8888, drm::kARGB8888, drm::kXBGR8888, drm::kABGR8888, drm::kXRGB2101010,
                     drm::kXBGR2101010}) {
    EXPECT_EQ(format_cpp(f), 4u);
    EXPECT_EQ(pixels_per_group(f), 1u);
  }
  EXPECT_EQ(format_cpp(drm::kRGB565), 2u);
  EXPECT_EQ(format_cpp(drm::kC8), 1u);
  for (const YuvOrder& o : kYuvOrders) {
    EXPECT_EQ(format_cpp(o.fourcc), 2u);
    EXPECT_EQ(pixels_per_group(o.fourcc), 2u);
  }
  const uint32_t nv12 = hw::fourcc('N', 'V', '1', '2');
  EXPECT_EQ(row_converter(nv12, Output::Argb), nullptr);
  EXPECT_EQ(format_cpp(nv12), 0u);
}

}  // namespace
}  // namespace vgd::fb
