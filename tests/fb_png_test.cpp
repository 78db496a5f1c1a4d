// Screenshots as PNG: what is written reads back as the same picture.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "fb/png.h"

namespace vgd::fb {
namespace {

Image random_opaque(uint32_t w, uint32_t h, unsigned seed) {
  std::mt19937 rng(seed);
  Image img{w, h, std::vector<uint32_t>(size_t{w} * h)};
  for (auto& p : img.px) p = 0xFF000000 | (rng() & 0xFFFFFF);
  return img;
}

TEST(Png, EncodeThenDecodeGivesTheSamePixels) {
  const Image img = random_opaque(37, 23, 1);
  auto png = encode_png(img);
  ASSERT_TRUE(png) << png.error();
  ASSERT_GE(png->size(), 8u);
  EXPECT_EQ((std::vector<uint8_t>(png->begin(), png->begin() + 8)),
            (std::vector<uint8_t>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}));
  auto back = decode_png(*png);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->width, 37u);
  EXPECT_EQ(back->height, 23u);
  EXPECT_EQ(back->px, img.px);
}

TEST(Png, WriteThenReadAFile) {
  const auto path = std::filesystem::temp_directory_path() / ("fb_png_test_" + std::to_string(::getpid()) + ".png");
  const Image img = random_opaque(64, 48, 2);
  auto written = write_png(img, path.string());
  ASSERT_TRUE(written) << written.error();
  EXPECT_EQ(*written, std::filesystem::file_size(path));
  auto back = read_png(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->px, img.px);
}

TEST(Png, AlphaIsDroppedColoursKept) {
  auto png = encode_png(Image{2, 1, {0x00123456, 0x80ABCDEF}});
  ASSERT_TRUE(png) << png.error();
  auto back = decode_png(*png);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(back->px, (std::vector<uint32_t>{0xFF123456, 0xFFABCDEF}));
}

TEST(Png, ReportsFailures) {
  EXPECT_FALSE(encode_png(Image{}));
  EXPECT_FALSE(encode_png(Image{2, 2, {1, 2, 3}})) << "pixel count disagrees with the size";
  const std::vector<uint8_t> junk{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_FALSE(decode_png(junk));
  auto png = encode_png(random_opaque(8, 8, 3));
  ASSERT_TRUE(png);
  EXPECT_FALSE(decode_png(std::span(*png).first(png->size() / 2))) << "truncated";
  const auto w = write_png(random_opaque(2, 2, 4), "/nonexistent-dir/x.png");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().find("/nonexistent-dir/x.png"), std::string::npos);
  EXPECT_FALSE(read_png("/nonexistent-dir/x.png"));
}

}  // namespace
}  // namespace vgd::fb
