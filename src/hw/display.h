// gen9 display registers the vGPU emulates (docs/hardware.md, Pipes … Interrupts), declared once.
// Offsets are absolute BAR0 offsets; per-pipe and per-transcoder blocks repeat every 0x1000.
#pragma once

#include <array>
#include <cstdint>

#include "hw/field.h"
#include "hw/formats.h"

namespace vgd::hw {

enum class Pipe : uint8_t { A = 0, B = 1, C = 2 };
inline constexpr uint32_t kPipeCount = 3;
inline constexpr std::array<Pipe, kPipeCount> kPipes = {Pipe::A, Pipe::B, Pipe::C};
constexpr uint32_t index(Pipe p) { return static_cast<uint32_t>(p); }
constexpr char letter(Pipe p) { return static_cast<char>('A' + index(p)); }

// Universal planes a pipe scans out (plane 1 = primary, plane 2 = sprite) and its cursor.
enum class Plane : uint8_t { Primary = 0, Sprite = 1, Cursor = 2 };
inline constexpr uint32_t kPlaneCount = 3;
inline constexpr std::array<Plane, kPlaneCount> kPlanes = {Plane::Primary, Plane::Sprite, Plane::Cursor};
// Universal plane number of the primary (1) and sprite (2) planes.
constexpr uint32_t universal_index(Plane p) { return p == Plane::Primary ? 1 : 2; }

inline constexpr uint64_t kPipeStride = 0x1000;

// --- Transcoder block (0x60000 + 0x1000·pipe): timings and source size -----------------------
namespace trans {
inline constexpr uint64_t kHtotal = 0x60000;  // 28:16 htotal-1, 12:0 hactive-1
inline constexpr uint64_t kHblank = 0x60004;
inline constexpr uint64_t kHsync = 0x60008;
inline constexpr uint64_t kVtotal = 0x6000C;  // 28:16 vtotal-1, 12:0 vactive-1
inline constexpr uint64_t kVblank = 0x60010;
inline constexpr uint64_t kVsync = 0x60014;
inline constexpr uint64_t kPipeSrc = 0x6001C;  // 28:16 width-1, 11:0 height-1
inline constexpr uint64_t kDataM1 = 0x60030;
inline constexpr uint64_t kDataN1 = 0x60034;
inline constexpr uint64_t kLinkM1 = 0x60040;  // 23:0
inline constexpr uint64_t kLinkN1 = 0x60044;  // 23:0
inline constexpr Field<uint32_t> kTotal{16, 13};
inline constexpr Field<uint32_t> kActive{0, 13};
inline constexpr Field<uint32_t> kSrcWidth{16, 13};   // GVT's mask 0x1FFF<<16
inline constexpr Field<uint32_t> kSrcHeight{0, 12};   // GVT's mask 0xFFF
inline constexpr Field<uint32_t> kLinkMN{0, 24};
}  // namespace trans

// DP link clock of the virtual port (port D), from the shared DPLL control registers.
namespace dpll {
inline constexpr uint64_t kCtrl1 = 0x6C058;  // link rate of DPLL n in bits [6n+3 : 6n+1]
inline constexpr uint64_t kCtrl2 = 0x6C05C;  // clock select of DDI port p in bits [3p+2 : 3p+1]
inline constexpr uint32_t kPortD = 3;
constexpr Field<uint32_t> link_rate(uint32_t dpll) { return Field<uint32_t>{dpll * 6 + 1, 3}; }
constexpr Field<uint32_t> port_clock_select(uint32_t port) { return Field<uint32_t>{port * 3 + 1, 2}; }
// DPLL_CTRL1 link-rate codes and the DP bit rate in kHz the refresh formula uses (hardware.md).
enum class LinkRate : uint32_t { R2700 = 0, R1350 = 1, R810 = 2, R1620 = 3, R1080 = 4, R2160 = 5 };
constexpr uint64_t bitrate_khz(uint32_t code) {
  switch (static_cast<LinkRate>(code)) {
    case LinkRate::R2700: return 270000 * 2;
    case LinkRate::R1350: return 135000 * 2;
    case LinkRate::R810: return 81000 * 2;
    case LinkRate::R1620: return 162000 * 2;
    case LinkRate::R1080: return 108000 * 2;
    case LinkRate::R2160: return 216000 * 2;
    default: return 0;
  }
}
}  // namespace dpll

// --- Pipe block (0x70000 + 0x1000·pipe) --------------------------------------------------------
namespace pipe {
inline constexpr uint64_t kConf = 0x70008;       // TRANSCONF/PIPECONF
inline constexpr uint64_t kFrameCount = 0x70040;
inline constexpr uint64_t kFlipCount = 0x70044;
inline constexpr Field<uint32_t> kEnable = bit<uint32_t>(31);
inline constexpr Field<uint32_t> kActive = bit<uint32_t>(30);  // state: the host sets it
}  // namespace pipe

// Universal plane n (1 primary, 2 sprite) of pipe p: 0x70080 + 0x100·n + 0x1000·p.
namespace plane {
inline constexpr uint64_t kBase = 0x70080;
inline constexpr uint64_t kPlaneStride = 0x100;
inline constexpr uint64_t kCtl = 0x00;
inline constexpr uint64_t kStride = 0x08;
inline constexpr uint64_t kPos = 0x0C;     // 28:16 y, 12:0 x
inline constexpr uint64_t kSize = 0x10;    // 28:16 height-1, 12:0 width-1
inline constexpr uint64_t kSurf = 0x1C;    // write = flip
inline constexpr uint64_t kOffset = 0x24;  // 28:16 y, 12:0 x within the surface
inline constexpr uint64_t kSurfLive = 0x2C;
inline constexpr uint64_t kBlockSize = 0x100;

inline constexpr Field<uint32_t> kEnable = bit<uint32_t>(31);
inline constexpr Field<uint32_t> kFormat{24, 4};
inline constexpr Field<uint32_t> kRgbxOrder = bit<uint32_t>(20);  // 1: R in the low byte
inline constexpr Field<uint32_t> kYuvOrder{16, 2};
inline constexpr Field<uint32_t> kTiling{10, 3};
inline constexpr Field<uint32_t> kAsyncFlip = bit<uint32_t>(9);
inline constexpr Field<uint32_t> kAlpha{4, 2};
inline constexpr Field<uint32_t> kRotation{0, 2};
inline constexpr Field<uint32_t> kStrideField{0, 10};  // GVT reads 9:0
inline constexpr Field<uint32_t> kXY_X{0, 13};
inline constexpr Field<uint32_t> kXY_Y{16, 13};
inline constexpr Field<uint32_t> kOffsetX{0, 13};
inline constexpr Field<uint32_t> kOffsetY{16, 12};
inline constexpr uint32_t kSurfAddrMask = 0xFFFFF000u;

constexpr uint64_t reg(Pipe p, uint32_t universal_plane, uint64_t r) {
  return kBase + kPlaneStride * universal_plane + kPipeStride * index(p) + r;
}
}  // namespace plane

// Cursor of pipe p: 0x70080 + 0x1000·p.
namespace cursor {
inline constexpr uint64_t kCntr = 0x70080;
inline constexpr uint64_t kBase = 0x70084;     // write = cursor flip
inline constexpr uint64_t kPos = 0x70088;
inline constexpr uint64_t kSurfLive = 0x700AC;
inline constexpr Field<uint32_t> kMode{0, 6};  // bits 5 and 2:0 matter (kModeMask, Mode: hw/formats.h)
inline constexpr Field<uint32_t> kAsyncFlip = bit<uint32_t>(9);  // the refresh-event series' choice
inline constexpr Field<uint32_t> kPosX{0, 13};
inline constexpr Field<uint32_t> kPosXSign = bit<uint32_t>(15);
inline constexpr Field<uint32_t> kPosY{16, 12};
inline constexpr Field<uint32_t> kPosYSign = bit<uint32_t>(31);
constexpr uint64_t reg(Pipe p, uint64_t r) { return r + kPipeStride * index(p); }
}  // namespace cursor

constexpr uint64_t pipe_reg(Pipe p, uint64_t r) { return r + kPipeStride * index(p); }

// MMIO flip registers (0x50080 family): bits 31:12 surface, bits 1:0 flip type (1 = async).
namespace mmio_flip {
inline constexpr std::array<uint64_t, kPipeCount> kPrimary = {0x50080, 0x50088, 0x5008C};
inline constexpr std::array<uint64_t, kPipeCount> kSprite = {0x50090, 0x50098, 0x5009C};
inline constexpr Field<uint32_t> kType{0, 2};
inline constexpr uint32_t kAsync = 1;
}  // namespace mmio_flip

// --- Display-engine interrupts (gen8+) ----------------------------------------------------------
namespace irq {
inline constexpr uint64_t kMaster = 0x44200;  // GEN8_MASTER_IRQ
inline constexpr uint32_t kMasterEnable = 1u << 31;
constexpr uint32_t master_pipe_bit(Pipe p) { return 1u << (16 + index(p)); }
// Per-pipe bank: ISR, IMR, IIR, IER at 0x44400 + 0x10·pipe + 0/4/8/C.
constexpr uint64_t isr(Pipe p) { return 0x44400 + 0x10 * index(p); }
constexpr uint64_t imr(Pipe p) { return isr(p) + 0x4; }
constexpr uint64_t iir(Pipe p) { return isr(p) + 0x8; }
constexpr uint64_t ier(Pipe p) { return isr(p) + 0xC; }
inline constexpr uint32_t kVblank = 1u << 0;
inline constexpr uint32_t kPrimaryFlipDone = 1u << 3;
inline constexpr uint32_t kSpriteFlipDone = 1u << 4;
inline constexpr uint32_t kCursorFlipDone = 1u << 6;
constexpr uint32_t flip_done(Plane pl) {
  return pl == Plane::Primary ? kPrimaryFlipDone : pl == Plane::Sprite ? kSpriteFlipDone : kCursorFlipDone;
}
}  // namespace irq

}  // namespace vgd::hw
