#include "guest/display.h"

#include "hw/pvinfo.h"

namespace vgd::guest {

using namespace hw;

namespace {

// PLANE_CTL format, RGB-order and alpha bits for a pixel format.
uint32_t format_bits(PixelFormat f) {
  using plane::Format;
  auto fmt = [](Format code) { return plane::kFormat.set(0, static_cast<uint32_t>(code)); };
  switch (f) {
    case PixelFormat::Xrgb8888: return fmt(Format::Xrgb8888);
    case PixelFormat::Argb8888: return plane::kAlpha.set(fmt(Format::Xrgb8888), 2);
    case PixelFormat::Xbgr8888: return plane::kRgbxOrder.set(fmt(Format::Xrgb8888), 1);
    case PixelFormat::Xrgb2101010: return fmt(Format::Xrgb2101010);
    case PixelFormat::Rgb565: return fmt(Format::Rgb565);
    case PixelFormat::Yuyv: return plane::kYuvOrder.set(fmt(Format::Yuv422), 0);
    case PixelFormat::Uyvy: return plane::kYuvOrder.set(fmt(Format::Yuv422), 1);
    case PixelFormat::C8: return fmt(Format::Indexed8);
  }
  return 0;
}

uint32_t tiling_bits(Tiling t) { return static_cast<uint32_t>(tiling_code(t)); }

uint32_t xy(uint32_t x, uint32_t y) { return plane::kXY_Y.set(plane::kXY_X.set(0, x), y); }

// CURPOS: sign and magnitude per axis.
uint32_t cursor_pos(int32_t x, int32_t y) {
  uint32_t v = cursor::kPosX.set(0, static_cast<uint32_t>(x < 0 ? -x : x));
  v = cursor::kPosXSign.set(v, x < 0);
  v = cursor::kPosY.set(v, static_cast<uint32_t>(y < 0 ? -y : y));
  return cursor::kPosYSign.set(v, y < 0);
}

// The DP link the guest programs: DPLL 1 at the 1350 MHz link rate drives port D.
constexpr uint32_t kDpll = 1;
constexpr uint32_t kLinkN = 0x80000;

}  // namespace

bool layout_surface(uint32_t width, uint32_t height, PixelFormat f, Tiling t, uint32_t& stride, uint64_t& size) {
  const uint32_t cpp = bytes_per_pixel(f);
  const auto info = tiling_from_ctl(tiling_bits(t), cpp);
  if (!info || width == 0 || height == 0 || width > 8192 || height > 4096) return false;
  stride = static_cast<uint32_t>(align_up(uint64_t{width} * cpp, info->stride_unit));
  if (t == Tiling::X) stride = static_cast<uint32_t>(align_up(stride, 512));
  if (stride / info->stride_unit > plane::kStrideField.mask()) return false;
  size = align_up(uint64_t{stride} * align_up(height, info->size_rows), kPageSize);
  return true;
}

Error Display::create_surface(uint32_t width, uint32_t height, PixelFormat f, Tiling t, Surface& out) {
  uint64_t size = 0;
  out = Surface{};
  if (!layout_surface(width, height, f, t, out.stride, size)) return Error::Unsupported;
  if (Error e = drv_->alloc_buffer(size, Placement::Aperture, out.buffer); e != Error::None) return e;
  out.width = width;
  out.height = height;
  out.format = f;
  out.tiling = t;
  return Error::None;
}

Error Display::modeset(Pipe p, const Mode& m, const Surface& primary) {
  if (m.width != primary.width || m.height != primary.height) return Error::BadArgument;
  write(pipe_reg(p, pipe::kConf), 0);
  // Link: DPLL 1 at 1350 MHz for port D; M/N carry the pixel clock: pixel = M · bitrate / N.
  const uint32_t rate = static_cast<uint32_t>(dpll::LinkRate::R1350);
  write(dpll::kCtrl1, dpll::link_rate(kDpll).set(read(dpll::kCtrl1), rate));
  write(dpll::kCtrl2, dpll::port_clock_select(dpll::kPortD).set(read(dpll::kCtrl2), kDpll));
  const uint64_t link_m = (uint64_t{m.pixel_khz} * kLinkN + dpll::bitrate_khz(rate) / 2) / dpll::bitrate_khz(rate);
  write(pipe_reg(p, trans::kLinkM1), static_cast<uint32_t>(link_m));
  write(pipe_reg(p, trans::kLinkN1), kLinkN);
  write(pipe_reg(p, trans::kHtotal), trans::kTotal.set(trans::kActive.set(0, m.width - 1), m.htotal - 1));
  write(pipe_reg(p, trans::kVtotal), trans::kTotal.set(trans::kActive.set(0, m.height - 1), m.vtotal - 1));
  write(pipe_reg(p, trans::kPipeSrc), trans::kSrcWidth.set(trans::kSrcHeight.set(0, m.height - 1), m.width - 1));
  // Interrupts: vblank and the three flip-done events, delivered through the master.
  const uint32_t wanted = irq::kVblank | irq::kPrimaryFlipDone | irq::kSpriteFlipDone | irq::kCursorFlipDone;
  write(irq::imr(p), ~wanted);
  write(irq::ier(p), wanted);
  write(irq::iir(p), 0xFFFFFFFFu);
  write(irq::kMaster, irq::kMasterEnable);
  program_plane(p, Plane::Primary, primary, false);
  write(plane::reg(p, 1, plane::kSurf), static_cast<uint32_t>(primary.buffer.gm.value()));
  write(pipe_reg(p, pipe::kConf), pipe::kEnable.set(0, 1));
  if (!pipe::kActive.get(read(pipe_reg(p, pipe::kConf)))) return Error::Timeout;  // the host did not light it
  return Error::None;
}

Error Display::disable(Pipe p) {
  write(plane::reg(p, 1, plane::kCtl), 0);
  write(plane::reg(p, 2, plane::kCtl), 0);
  write(cursor::reg(p, cursor::kCntr), 0);
  write(pipe_reg(p, pipe::kConf), 0);
  return Error::None;
}

void Display::program_plane(Pipe p, Plane pl, const Surface& s, bool async) {
  const uint32_t n = universal_index(pl);
  const auto info = tiling_from_ctl(tiling_bits(s.tiling), bytes_per_pixel(s.format));
  uint32_t ctl = plane::kEnable.set(format_bits(s.format), 1);
  ctl = plane::kTiling.set(ctl, tiling_bits(s.tiling));
  ctl = plane::kAsyncFlip.set(ctl, async ? 1 : 0);
  write(plane::reg(p, n, plane::kCtl), ctl);
  write(plane::reg(p, n, plane::kStride), s.stride / (info ? info->stride_unit : 64));
  write(plane::reg(p, n, plane::kOffset), 0);
  write(plane::reg(p, n, plane::kSize), xy(s.width - 1, s.height - 1));
}

Error Display::wait_irq(Pipe p, uint32_t bit) {
  for (uint32_t i = 0; i < kMaxIdle; ++i) {
    if (read(irq::iir(p)) & bit) {
      write(irq::iir(p), bit);  // acknowledge (write 1 to clear)
      return Error::None;
    }
    idle_->idle();
  }
  return Error::Timeout;
}

Error Display::flip(Pipe p, Plane pl, const Surface& s, bool async) {
  if (Error e = queue_flip(p, pl, s, async); e != Error::None) return e;
  return wait_flip(p, pl);
}

Error Display::queue_flip(Pipe p, Plane pl, const Surface& s, bool async) {
  if (pl == Plane::Cursor) return Error::BadArgument;
  const uint32_t n = universal_index(pl);
  const uint32_t ctl = read(plane::reg(p, n, plane::kCtl));
  if (!plane::kEnable.get(ctl)) return Error::BadArgument;
  write(plane::reg(p, n, plane::kCtl), plane::kAsyncFlip.set(ctl, async ? 1 : 0));
  write(irq::iir(p), irq::flip_done(pl));  // forget a stale completion
  write(plane::reg(p, n, plane::kSurf), static_cast<uint32_t>(s.buffer.gm.value()));
  return Error::None;
}

Error Display::set_sprite(Pipe p, const Surface& s, int32_t x, int32_t y) {
  if (x < 0 || y < 0) return Error::BadArgument;  // sprites clip on the host side only for the cursor
  program_plane(p, Plane::Sprite, s, false);
  write(plane::reg(p, 2, plane::kPos), xy(static_cast<uint32_t>(x), static_cast<uint32_t>(y)));
  write(irq::iir(p), irq::kSpriteFlipDone);
  write(plane::reg(p, 2, plane::kSurf), static_cast<uint32_t>(s.buffer.gm.value()));
  return wait_irq(p, irq::kSpriteFlipDone);
}

Error Display::hide_sprite(Pipe p) {
  write(plane::reg(p, 2, plane::kCtl), 0);
  return Error::None;
}

Error Display::set_cursor(Pipe p, const Buffer& image, uint32_t hot_x, uint32_t hot_y) {
  write(kPvinfoOffset + pv::kCursorXHot, hot_x);
  write(kPvinfoOffset + pv::kCursorYHot, hot_y);
  // 64x64 ARGB, async: cursor updates complete at once, like i915's legacy cursor path.
  write(cursor::reg(p, cursor::kCntr), cursor::kAsyncFlip.set(static_cast<uint32_t>(cursor::Mode::Argb64), 1));
  cursor_base_[index(p)] = static_cast<uint32_t>(image.gm.value());
  write(cursor::reg(p, cursor::kBase), cursor_base_[index(p)]);
  return wait_irq(p, irq::kCursorFlipDone);
}

Error Display::move_cursor(Pipe p, int32_t x, int32_t y) {
  // Linux and Windows drivers write CURPOS together with CURBASE; the host tracks CURBASE.
  write(cursor::reg(p, cursor::kPos), cursor_pos(x, y));
  write(cursor::reg(p, cursor::kBase), cursor_base_[index(p)]);
  return wait_irq(p, irq::kCursorFlipDone);
}

Error Display::wait_vblank(Pipe p) {
  write(irq::iir(p), irq::kVblank);
  return wait_irq(p, irq::kVblank);
}

// --- damage hints (docs/hardware.md, Damage hints) ---

Error Display::set_damage_hints(bool on) {
  if (!damage_hints_offered()) return Error::Unsupported;
  write(hw::kPvinfoOffset + hw::pv::kDamageCtl, on ? hw::damage::kCtlEnable : 0);
  hints_on_ = on;
  return Error::None;
}

void Display::submit_damage(hw::Pipe p, hw::Plane plane, const DamageBox* boxes, uint32_t count, bool with_next_flip) {
  namespace dmg = hw::damage;
  if (!hints_on_ || plane == hw::Plane::Cursor) return;
  const bool whole = count > dmg::kMaxRects;
  for (uint32_t i = 0; !whole && i < count; ++i) {
    // Two dword writes: every transport (a VM's trapped MMIO included) carries those.
    const DamageBox& b = boxes[i];
    const uint64_t at = hw::kPvinfoOffset + hw::pv::kDamageRect + uint64_t{i} * 8;
    write(at, uint32_t{b.x} | uint32_t{b.y} << 16);
    write(at + 4, uint32_t{b.w} | uint32_t{b.h} << 16);
  }
  uint32_t v = dmg::kCount.set(0, whole ? 0 : count);
  v = dmg::kPlane.set(v, plane == hw::Plane::Primary ? 0 : 1);
  v = dmg::kPipe.set(v, hw::index(p));
  v = dmg::kWithFlip.set(v, with_next_flip ? 1 : 0);
  v = dmg::kWholePlane.set(v, whole ? 1 : 0);
  write(hw::kPvinfoOffset + hw::pv::kDamageSubmit, v);
}

}  // namespace vgd::guest
