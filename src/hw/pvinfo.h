// The PVINFO page (docs/hardware.md, PVINFO): a 4 KiB window at MMIO 0x78000 through which the host
// tells the guest its graphics-memory slices and fences and the guest answers. The struct is the
// single layout definition; offsets below are checked against docs/hardware.md at compile time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hw/field.h"

namespace vgd::hw {

inline constexpr uint64_t kPvinfoOffset = 0x78000;
inline constexpr uint64_t kPvinfoSize = 0x1000;
inline constexpr uint64_t kPvinfoMagic = 0x4776544776544776ull;  // "vGTvGTvG"
inline constexpr uint16_t kPvinfoVersionMajor = 1;
inline constexpr uint16_t kPvinfoVersionMinor = 0;

// vgt_caps bits.
inline constexpr uint32_t kCapFullPpgtt = 1u << 2;
inline constexpr uint32_t kCapHwspEmulation = 1u << 3;
inline constexpr uint32_t kCapHugeGtt = 1u << 4;
// Ours, not upstream GVT-g: the damage-hint registers below (docs/hardware.md, Damage hints).
inline constexpr uint32_t kCapDamageHints = 1u << 16;
inline constexpr uint32_t kCapsAdvertised = kCapFullPpgtt | kCapHwspEmulation | kCapHugeGtt | kCapDamageHints;

inline constexpr uint32_t kHotspotUnknown = 0xFFFFFFFFu;

enum class DisplayReady : uint32_t { NotReady = 0, Ready = 1 };

// g2v_notify codes; 1 is a legacy code hosts ignore.
enum class G2v : uint32_t {
  Legacy = 1,
  PpgttL3Create = 2,
  PpgttL3Destroy = 3,
  PpgttL4Create = 4,
  PpgttL4Destroy = 5,
  ExeclistContextCreate = 6,
  ExeclistContextDestroy = 7,
  Max = 8,
};

#pragma pack(push, 1)
struct Pvinfo {
  uint64_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t vgt_id;
  uint32_t vgt_caps;
  uint32_t rsv1[11];
  struct {
    uint32_t mappable_base;
    uint32_t mappable_size;
    uint32_t nonmappable_base;
    uint32_t nonmappable_size;
    uint32_t fence_num;
    uint32_t rsv2[3];
  } avail_rs;
  uint32_t rsv3[0x200 - 24];
  // Guest -> host half.
  uint32_t rsv4;
  uint32_t display_ready;
  uint32_t rsv5[4];
  uint32_t g2v_notify;
  uint32_t rsv6[5];
  uint32_t cursor_x_hot;
  uint32_t cursor_y_hot;
  struct {
    uint32_t lo;
    uint32_t hi;
  } pdp[4];
  uint32_t execlist_context_descriptor_lo;
  uint32_t execlist_context_descriptor_hi;
  uint32_t rsv7[8];
  // Damage hints (ours): rectangles, then control and submit.
  struct {
    uint16_t x, y, width, height;
  } damage_rect[16];
  uint32_t damage_ctl;
  uint32_t damage_submit;
  uint32_t rsv8[0x200 - 24 - 8 - 32 - 2];
};
#pragma pack(pop)

// Page-relative field offsets.
namespace pv {
inline constexpr uint64_t kMagic = offsetof(Pvinfo, magic);
inline constexpr uint64_t kVersionMajor = offsetof(Pvinfo, version_major);
inline constexpr uint64_t kVersionMinor = offsetof(Pvinfo, version_minor);
inline constexpr uint64_t kVgtId = offsetof(Pvinfo, vgt_id);
inline constexpr uint64_t kVgtCaps = offsetof(Pvinfo, vgt_caps);
inline constexpr uint64_t kMappableBase = offsetof(Pvinfo, avail_rs.mappable_base);
inline constexpr uint64_t kMappableSize = offsetof(Pvinfo, avail_rs.mappable_size);
inline constexpr uint64_t kNonmappableBase = offsetof(Pvinfo, avail_rs.nonmappable_base);
inline constexpr uint64_t kNonmappableSize = offsetof(Pvinfo, avail_rs.nonmappable_size);
inline constexpr uint64_t kFenceNum = offsetof(Pvinfo, avail_rs.fence_num);
inline constexpr uint64_t kRsv4 = offsetof(Pvinfo, rsv4);
inline constexpr uint64_t kDisplayReady = offsetof(Pvinfo, display_ready);
inline constexpr uint64_t kRsv5 = offsetof(Pvinfo, rsv5);
inline constexpr uint64_t kRsv5Size = sizeof(Pvinfo::rsv5);
inline constexpr uint64_t kG2vNotify = offsetof(Pvinfo, g2v_notify);
inline constexpr uint64_t kRsv6 = offsetof(Pvinfo, rsv6);
inline constexpr uint64_t kCursorXHot = offsetof(Pvinfo, cursor_x_hot);
inline constexpr uint64_t kCursorYHot = offsetof(Pvinfo, cursor_y_hot);
inline constexpr uint64_t kPdp = offsetof(Pvinfo, pdp);
inline constexpr uint64_t kExeclistDescLo = offsetof(Pvinfo, execlist_context_descriptor_lo);
inline constexpr uint64_t kExeclistDescHi = offsetof(Pvinfo, execlist_context_descriptor_hi);
inline constexpr uint64_t kGuestWritableEnd = kExeclistDescHi + 4;
inline constexpr uint64_t kDamageRect = offsetof(Pvinfo, damage_rect);
inline constexpr uint64_t kDamageRectSize = sizeof(Pvinfo::damage_rect);
inline constexpr uint64_t kDamageCtl = offsetof(Pvinfo, damage_ctl);
inline constexpr uint64_t kDamageSubmit = offsetof(Pvinfo, damage_submit);
}  // namespace pv

// damage_ctl and damage_submit fields (docs/hardware.md, Damage hints).
namespace damage {
inline constexpr uint32_t kMaxRects = 16;
inline constexpr uint32_t kCtlEnable = 1u << 0;
inline constexpr Field<uint32_t> kCount{0, 5};
inline constexpr Field<uint32_t> kPlane{8, 2};  // 0 primary, 1 sprite
inline constexpr Field<uint32_t> kPipe{12, 2};  // 0 A, 1 B, 2 C
inline constexpr Field<uint32_t> kWithFlip = bit<uint32_t>(30);
inline constexpr Field<uint32_t> kWholePlane = bit<uint32_t>(31);
inline constexpr uint32_t kSubmitReserved =
    ~(kCount.mask() | kPlane.mask() | kPipe.mask() | kWithFlip.mask() | kWholePlane.mask());
}  // namespace damage

static_assert(sizeof(Pvinfo) == kPvinfoSize);
static_assert(pv::kVersionMajor == 0x08 && pv::kVersionMinor == 0x0A && pv::kVgtId == 0x0C);
static_assert(pv::kVgtCaps == 0x10 && pv::kMappableBase == 0x40 && pv::kMappableSize == 0x44);
static_assert(pv::kNonmappableBase == 0x48 && pv::kNonmappableSize == 0x4C && pv::kFenceNum == 0x50);
static_assert(pv::kRsv4 == 0x800 && pv::kDisplayReady == 0x804 && pv::kRsv5 == 0x808);
static_assert(pv::kG2vNotify == 0x818 && pv::kRsv6 == 0x81C);
static_assert(pv::kCursorXHot == 0x830 && pv::kCursorYHot == 0x834 && pv::kPdp == 0x838);
static_assert(pv::kExeclistDescLo == 0x858 && pv::kExeclistDescHi == 0x85C);
static_assert(pv::kDamageRect == 0x880 && pv::kDamageRectSize == 16 * 8);
static_assert(pv::kDamageCtl == 0x900 && pv::kDamageSubmit == 0x904);

}  // namespace vgd::hw
