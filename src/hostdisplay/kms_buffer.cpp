// KmsDisplay's buffers (docs/direct-flip.md, The KMS backend): a dumb buffer mapped for the CPU,
// or a PRIME import of someone's dma-buf, each with its framebuffer id. The framebuffer holds
// the GEM object, so the handle is closed as soon as the framebuffer exists; the framebuffer
// goes when the last reference to the Buffer does.
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <iterator>
#include <cstring>

#include <fmt/format.h>

#include "hostdisplay/kms_device.h"
#include "hostdisplay/kms_display.h"
#include "hostdisplay/kms_parse.h"
#include "util/mapping.h"

namespace vgd::hostdisplay {

namespace {

// A GEM handle of this fd, closed on scope exit.
class GemHandle {
 public:
  GemHandle(int fd, uint32_t handle) : fd_(fd), handle_(handle) {}
  ~GemHandle() { drmCloseBufferHandle(fd_, handle_); }
  GemHandle(const GemHandle&) = delete;
  GemHandle& operator=(const GemHandle&) = delete;
  uint32_t get() const { return handle_; }

 private:
  int fd_;
  uint32_t handle_;
};

class KmsBuffer : public Buffer {
 public:
  KmsBuffer(std::shared_ptr<kms::Device> dev, const BufferLayout& layout, uint32_t fb_id, Mapping map)
      : Buffer(layout, fb_id), dev_(std::move(dev)), map_(std::move(map)) {}
  ~KmsBuffer() override { drmModeRmFB(dev_->fd.get(), fb_id()); }
  std::span<std::byte> pixels() override { return map_.bytes(); }
  std::span<const std::byte> bytes() const override { return map_.bytes(); }

 private:
  std::shared_ptr<kms::Device> dev_;
  Mapping map_;  // empty for imports
};

// AddFB2 (with the modifier when it is not linear) on one GEM handle for every used plane.
Expected<uint32_t, std::string> add_fb(int fd, uint32_t handle, const BufferLayout& l) {
  uint32_t handles[4] = {}, pitches[4] = {}, offsets[4] = {};
  uint64_t modifiers[4] = {};
  for (int i = 0; i < 4 && l.pitch[i] != 0; ++i) {
    handles[i] = handle;
    pitches[i] = l.pitch[i];
    offsets[i] = static_cast<uint32_t>(l.offset[i]);
    modifiers[i] = l.format.modifier;
  }
  uint32_t fb = 0;
  const bool with_modifier = l.format.modifier != 0;
  const int r = drmModeAddFB2WithModifiers(fd, l.width, l.height, l.format.fourcc, handles, pitches, offsets,
                                           with_modifier ? modifiers : nullptr, &fb,
                                           with_modifier ? DRM_MODE_FB_MODIFIERS : 0);
  if (r != 0)
    return Unexpected(fmt::format("AddFB2 {}x{} {:#010x} modifier {:#x}: {}", l.width, l.height, l.format.fourcc,
                                  l.format.modifier, std::strerror(r < 0 ? -r : errno)));
  return fb;
}

}  // namespace

Expected<BufferRef, std::string> KmsDisplay::create_buffer(uint32_t width, uint32_t height, uint32_t fourcc) {
  const int fd = dev_->fd.get();
  const uint32_t bpp = kms::dumb_bpp(fourcc);
  if (bpp == 0) return Unexpected(fmt::format("{}: no dumb buffer holds format {:#010x}", dev_->name, fourcc));
  if (width == 0 || height == 0) return Unexpected(fmt::format("{}: a {}x{} buffer", dev_->name, width, height));
  uint32_t handle = 0, pitch = 0;
  uint64_t size = 0;
  if (drmModeCreateDumbBuffer(fd, width, height, bpp, 0, &handle, &pitch, &size) != 0)
    return Unexpected(fmt::format("{}: dumb buffer {}x{}: {}", dev_->name, width, height, std::strerror(errno)));
  const GemHandle gem(fd, handle);
  uint64_t offset = 0;
  if (drmModeMapDumbBuffer(fd, handle, &offset) != 0)
    return Unexpected(fmt::format("{}: mapping a dumb buffer: {}", dev_->name, std::strerror(errno)));
  auto map = Mapping::of_fd(fd, size, static_cast<off_t>(offset), PROT_READ | PROT_WRITE);
  if (!map) return Unexpected(fmt::format("{}: {}", dev_->name, map.error()));
  BufferLayout layout;
  layout.width = width;
  layout.height = height;
  layout.format = {fourcc, 0};
  layout.pitch[0] = pitch;
  auto fb = add_fb(fd, gem.get(), layout);
  if (!fb) return Unexpected(fmt::format("{}: {}", dev_->name, fb.error()));
  return BufferRef(std::make_shared<KmsBuffer>(dev_, layout, *fb, std::move(*map)));
}

Expected<BufferRef, std::string> KmsDisplay::import(int fd, const BufferLayout& layout) {
  // AddFB2 takes 32-bit offsets, and the first plane must have a pitch.
  const bool offsets_fit = std::all_of(std::begin(layout.offset), std::end(layout.offset), [](uint64_t o) { return o <= UINT32_MAX; });
  if (layout.width == 0 || layout.height == 0 || layout.pitch[0] == 0 || !offsets_fit)
    return Unexpected(fmt::format("{}: import of a {}x{} buffer with pitch {} or an offset past 4 GiB refused", dev_->name,
                                  layout.width, layout.height, layout.pitch[0]));
  uint32_t handle = 0;
  if (drmPrimeFDToHandle(dev_->fd.get(), fd, &handle) != 0)
    return Unexpected(fmt::format("{}: PRIME import refused ({}): not a dma-buf this device can scan out", dev_->name,
                                  std::strerror(errno)));
  const GemHandle gem(dev_->fd.get(), handle);
  auto fb = add_fb(dev_->fd.get(), gem.get(), layout);
  if (!fb) return Unexpected(fmt::format("{}: {}", dev_->name, fb.error()));
  return BufferRef(std::make_shared<KmsBuffer>(dev_, layout, *fb, Mapping()));
}

}  // namespace vgd::hostdisplay
