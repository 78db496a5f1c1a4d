// The display part of the guest driver model: what i915 does to light a pipe and flip planes on
// a vGPU. Programs real timings, DP link M/N and the DPLL (so the host can derive the refresh
// rate), plane registers, and waits for flip-done through the interrupt registers. Heap-free.
#pragma once

#include <cstdint>

#include "guest/driver.h"
#include "guest/ports.h"
#include "guest/status.h"
#include "hw/display.h"
#include "hw/formats.h"
#include "hw/pvinfo.h"

namespace vgd::guest {

struct Mode {
  uint32_t width, height;
  uint32_t htotal, vtotal;  // including blanking
  uint32_t pixel_khz;
  constexpr uint32_t refresh_mhz() const {
    return static_cast<uint32_t>((uint64_t{pixel_khz} * 1000000 + uint64_t{htotal} * vtotal / 2) /
                                 (uint64_t{htotal} * vtotal));
  }
};
// VESA / CEA-861 timings.
inline constexpr Mode kMode1024x768at60{1024, 768, 1344, 806, 65000};
inline constexpr Mode kMode1024x768at75{1024, 768, 1312, 800, 78750};
inline constexpr Mode kMode1920x1080at60{1920, 1080, 2200, 1125, 148500};
inline constexpr Mode kMode1920x1080at5994{1920, 1080, 2200, 1125, 148352};

enum class PixelFormat : uint8_t { Xrgb8888, Argb8888, Xbgr8888, Xrgb2101010, Rgb565, Yuyv, Uyvy, C8 };
constexpr uint32_t bytes_per_pixel(PixelFormat f) {
  switch (f) {
    case PixelFormat::Rgb565:
    case PixelFormat::Yuyv:
    case PixelFormat::Uyvy: return 2;
    case PixelFormat::C8: return 1;
    default: return 4;
  }
}

// A buffer laid out as an image the display can scan out.
struct Surface {
  Buffer buffer{};
  uint32_t width = 0, height = 0;
  uint32_t stride = 0;  // bytes per row
  PixelFormat format = PixelFormat::Xrgb8888;
  hw::Tiling tiling = hw::Tiling::Linear;
};

// Stride and size the display needs for a surface: stride rounded to the tiling's unit, height
// to whole tile rows. False for an unsupported combination.
bool layout_surface(uint32_t width, uint32_t height, PixelFormat f, hw::Tiling t, uint32_t& stride, uint64_t& size);

// A rectangle of a plane that changed (damage hints), in the plane's pixels.
struct DamageBox {
  uint16_t x = 0, y = 0, w = 0, h = 0;
};

class Display {
 public:
  static constexpr uint32_t kMaxIdle = 64;  // waits give up after this many idles (> 3 vblanks)

  Display(Driver& drv, IdlePort& idle) : mmio_(&drv.mmio()), drv_(&drv), idle_(&idle) {}

  // Allocates a surface in graphics memory (aperture) backed by guest RAM.
  Error create_surface(uint32_t width, uint32_t height, PixelFormat f, hw::Tiling t, Surface& out);

  // Lights the pipe with a mode and the primary plane showing `primary`.
  Error modeset(hw::Pipe p, const Mode& m, const Surface& primary);
  Error disable(hw::Pipe p);

  // Page flip of the primary or sprite plane; a synchronous flip returns after flip-done.
  Error flip(hw::Pipe p, hw::Plane plane, const Surface& s, bool async = false);
  // The two halves of flip(), for triple buffering: issue the flip, and later wait for its
  // flip-done (at the vblank that latched it; at once for an async flip).
  Error queue_flip(hw::Pipe p, hw::Plane plane, const Surface& s, bool async = false);
  Error wait_flip(hw::Pipe p, hw::Plane plane) { return wait_irq(p, hw::irq::flip_done(plane)); }
  Error set_sprite(hw::Pipe p, const Surface& s, int32_t x, int32_t y);
  Error hide_sprite(hw::Pipe p);

  // 64x64 ARGB cursor; the hotspot goes to PVINFO, the position with it to CURPOS.
  Error set_cursor(hw::Pipe p, const Buffer& image, uint32_t hot_x, uint32_t hot_y);
  Error move_cursor(hw::Pipe p, int32_t x, int32_t y);

  Error wait_vblank(hw::Pipe p);

  // Damage hints (docs/hardware.md, Damage hints), offered when PVINFO's caps have bit 16.
  bool damage_hints_offered() const { return (drv_->resources().caps & hw::kCapDamageHints) != 0; }
  // damage_ctl: from now on every change of a shown primary or sprite is described (on), or
  // the host compares pixels (off). Unsupported when the device does not offer hints.
  Error set_damage_hints(bool on);
  bool damage_hints() const { return hints_on_; }
  // Describes what changed on a plane: `count` boxes, or the whole plane when count exceeds
  // 16; for what the plane shows now (front-buffer drawing) or, with_next_flip, for the plane's
  // next flip (call before the flip). Does nothing while hints are off.
  void submit_damage(hw::Pipe p, hw::Plane plane, const DamageBox* boxes, uint32_t count, bool with_next_flip);

 private:
  Error wait_irq(hw::Pipe p, uint32_t bit);
  void program_plane(hw::Pipe p, hw::Plane plane, const Surface& s, bool async);
  uint32_t read(uint64_t off) { return mmio_->read32(off); }
  void write(uint64_t off, uint32_t v) { mmio_->write32(off, v); }

  MmioPort* mmio_;
  Driver* drv_;
  IdlePort* idle_;
  uint32_t cursor_base_[hw::kPipeCount] = {};
  bool hints_on_ = false;
};

}  // namespace vgd::guest
