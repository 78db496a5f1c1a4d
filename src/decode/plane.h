// What a plane shows, decoded from the registers a guest programmed (docs/hardware.md, Planes): the
// result of decode_plane(), consumed by the framebuffer code, the exporter and the viewers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hw/display.h"
#include "hw/formats.h"
#include "mmio/guest_attack.h"
#include "util/address.h"

namespace vgd::decode {

// The registers of one pipe that decoding reads, copied at one instant so the decoder is pure.
struct PipeSnapshot {
  hw::Pipe pipe = hw::Pipe::A;
  uint32_t pipeconf = 0;
  uint32_t pipesrc = 0;
  struct Universal {
    uint32_t ctl = 0, stride = 0, pos = 0, size = 0, surf = 0, offset = 0, surflive = 0;
    friend bool operator==(const Universal&, const Universal&) = default;
  };
  Universal primary, sprite;
  uint32_t curcntr = 0, curbase = 0, curpos = 0, cursurflive = 0;
  uint32_t x_hot = 0xFFFFFFFFu, y_hot = 0xFFFFFFFFu;  // PVINFO cursor hotspot
  friend bool operator==(const PipeSnapshot&, const PipeSnapshot&) = default;
};

struct PlaneInfo {
  hw::Pipe pipe = hw::Pipe::A;
  hw::Plane plane = hw::Plane::Primary;
  uint32_t fourcc = 0;
  uint64_t modifier = 0;
  hw::Tiling tiling = hw::Tiling::Linear;
  uint32_t cpp = 0;       // bytes per pixel
  uint32_t width = 0;     // pixels shown
  uint32_t height = 0;
  uint32_t stride = 0;    // pitch in bytes (for tiled surfaces too, as DRM counts it)
  uint64_t size = 0;      // stride × height rounded up to whole tile rows
  Gma base{};             // latched surface address
  uint32_t x_offset = 0;  // window inside the surface (PLANE_OFFSET)
  uint32_t y_offset = 0;
  int32_t x_pos = 0;      // on-screen position (sprite, cursor); signed for the cursor
  int32_t y_pos = 0;
  uint32_t x_hot = 0xFFFFFFFFu;  // cursor hotspot, 0xFFFFFFFF = unknown
  uint32_t y_hot = 0xFFFFFFFFu;
  std::vector<MemfdOffset> pages;  // every page of [base, base + size) in the VM's RAM memfd
};

struct DecodeError {
  enum class Kind : uint8_t {
    NoPlane,  // pipe or plane disabled: a normal answer, not a fault
    Invalid,  // unsupported format / mode / geometry
    Fault,    // addresses outside the vGPU's memory, unaligned or unmapped pages
  } kind;
  std::string reason;
  // Invalid and Fault: the catalogue's name for what the guest programmed (mmio/guest_attack.h).
  std::optional<GuestAttack> attack = std::nullopt;
};

}  // namespace vgd::decode
