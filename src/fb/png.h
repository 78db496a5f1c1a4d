// PNG files of Images (libspng): screenshots are written as 8-bit RGB, the alpha dropped (a
// composed pipe is opaque). Reading back is for tests and tools comparing screenshots.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fb/image.h"
#include "util/expected.h"

namespace vgd::fb {

Expected<std::vector<uint8_t>, std::string> encode_png(const Image& img);
// Returns the number of bytes written.
Expected<size_t, std::string> write_png(const Image& img, const std::string& path);

// Any PNG to 0xAARRGGBB (alpha 0xFF when the file has none).
Expected<Image, std::string> decode_png(std::span<const uint8_t> png);
Expected<Image, std::string> read_png(const std::string& path);

}  // namespace vgd::fb
