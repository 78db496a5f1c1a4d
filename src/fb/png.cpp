#include "fb/png.h"

#include <fmt/format.h>
#include <spng.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

namespace vgd::fb {
namespace {

struct CtxFree {
  void operator()(spng_ctx* c) const { spng_ctx_free(c); }
};
using Ctx = std::unique_ptr<spng_ctx, CtxFree>;
struct MallocFree {
  void operator()(void* p) const { std::free(p); }  // spng hands out malloc()ed buffers
};

std::string spng_failure(const char* what, int err) { return fmt::format("{}: {}", what, spng_strerror(err)); }

}  // namespace

Expected<std::vector<uint8_t>, std::string> encode_png(const Image& img) {
  if (img.width == 0 || img.height == 0 || img.px.size() != size_t{img.width} * img.height)
    return Unexpected(fmt::format("cannot encode a {}x{} image of {} pixels", img.width, img.height, img.px.size()));
  std::vector<uint8_t> rgb(img.px.size() * 3);
  for (size_t i = 0; i < img.px.size(); ++i) {
    const uint32_t v = img.px[i];
    rgb[3 * i] = static_cast<uint8_t>(v >> 16);
    rgb[3 * i + 1] = static_cast<uint8_t>(v >> 8);
    rgb[3 * i + 2] = static_cast<uint8_t>(v);
  }

  Ctx ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) return Unexpected(std::string("spng_ctx_new failed"));
  spng_ihdr ihdr{};
  ihdr.width = img.width;
  ihdr.height = img.height;
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR;
  if (int e = spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1)) return Unexpected(spng_failure("spng option", e));
  if (int e = spng_set_ihdr(ctx.get(), &ihdr)) return Unexpected(spng_failure("spng_set_ihdr", e));
  if (int e = spng_encode_image(ctx.get(), rgb.data(), rgb.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE))
    return Unexpected(spng_failure("spng_encode_image", e));
  size_t len = 0;
  int err = 0;
  const std::unique_ptr<void, MallocFree> buf(spng_get_png_buffer(ctx.get(), &len, &err));
  if (!buf) return Unexpected(spng_failure("spng_get_png_buffer", err));
  const auto* bytes = static_cast<const uint8_t*>(buf.get());
  return std::vector<uint8_t>(bytes, bytes + len);
}

Expected<size_t, std::string> write_png(const Image& img, const std::string& path) {
  auto png = encode_png(img);
  if (!png) return Unexpected(png.error());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (f) f.write(reinterpret_cast<const char*>(png->data()), static_cast<std::streamsize>(png->size()));
  if (f) f.close();
  if (!f) return Unexpected(fmt::format("writing {}: {}", path, std::strerror(errno)));
  return png->size();
}

Expected<Image, std::string> decode_png(std::span<const uint8_t> png) {
  Ctx ctx(spng_ctx_new(0));
  if (!ctx) return Unexpected(std::string("spng_ctx_new failed"));
  if (int e = spng_set_png_buffer(ctx.get(), png.data(), png.size())) return Unexpected(spng_failure("spng buffer", e));
  spng_ihdr ihdr{};
  if (int e = spng_get_ihdr(ctx.get(), &ihdr)) return Unexpected(spng_failure("reading PNG header", e));
  size_t len = 0;
  if (int e = spng_decoded_image_size(ctx.get(), SPNG_FMT_RGBA8, &len)) return Unexpected(spng_failure("PNG size", e));
  std::vector<uint8_t> rgba(len);
  if (int e = spng_decode_image(ctx.get(), rgba.data(), rgba.size(), SPNG_FMT_RGBA8, SPNG_DECODE_TRNS))
    return Unexpected(spng_failure("decoding PNG", e));

  Image img{ihdr.width, ihdr.height, std::vector<uint32_t>(size_t{ihdr.width} * ihdr.height)};
  for (size_t i = 0; i < img.px.size(); ++i) {
    const uint8_t* p = &rgba[4 * i];
    img.px[i] = uint32_t{p[3]} << 24 | uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2];
  }
  return img;
}

Expected<Image, std::string> read_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Unexpected(fmt::format("opening {}: {}", path, std::strerror(errno)));
  const std::vector<uint8_t> data{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  if (f.bad()) return Unexpected(fmt::format("reading {}: {}", path, std::strerror(errno)));
  return decode_png(data);
}

}  // namespace vgd::fb
