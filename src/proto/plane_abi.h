// The plane query record (docs/protocol.md §3.4): byte for byte Linux's
// `struct vfio_device_gfx_plane_info`, so a consumer written for VFIO (QEMU's hw/vfio/display.c)
// can reuse its code and a client in any language can mirror it. Declared here, checked by
// static_assert, nowhere else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace vgd::proto {

// `flags` bits (VFIO_GFX_PLANE_TYPE_*).
inline constexpr uint32_t kFlagProbe = 1u << 0;
inline constexpr uint32_t kFlagDmabuf = 1u << 1;   // our "dmabuf" is a buffer handle for get()
inline constexpr uint32_t kFlagRegion = 1u << 2;   // never supported
inline constexpr uint32_t kKnownFlags = kFlagProbe | kFlagDmabuf | kFlagRegion;

// `drm_plane_type` values (DRM_PLANE_TYPE_*). OVERLAY is our sprite; upstream GVT refuses it.
inline constexpr uint32_t kPlaneOverlay = 0;
inline constexpr uint32_t kPlanePrimary = 1;
inline constexpr uint32_t kPlaneCursor = 2;

inline constexpr uint32_t kHotUnknown = 0xFFFFFFFFu;

struct GfxPlaneInfo {
  uint32_t argsz = 0;           // in: bytes the caller provides, >= kMinArgsz
  uint32_t flags = 0;           // in: kFlag*
  uint32_t drm_plane_type = 0;  // in: kPlane*
  uint32_t drm_format = 0;      // out: DRM fourcc; 0 = no plane
  alignas(8) uint64_t drm_format_mod = 0;  // out: DRM modifier (aligned like the kernel's
                                           // __aligned_u64, so 32-bit builds agree)
  uint32_t width = 0;   // out: pixels
  uint32_t height = 0;
  uint32_t stride = 0;  // out: bytes per row
  uint32_t size = 0;    // out: bytes; 0 = no plane
  // out: on-screen position of the cursor (and of the sprite). Extension: signed, stored as the
  // int32 bit pattern (a cursor hanging off the top-left is negative; upstream reported
  // magnitudes). Read them with signed_pos().
  uint32_t x_pos = 0;
  uint32_t y_pos = 0;
  uint32_t x_hot = 0;  // out: cursor hotspot, kHotUnknown when the guest gave none
  uint32_t y_hot = 0;
  union {
    uint32_t region_index;  // REGION mode (unsupported)
    uint32_t dmabuf_id = 0;  // out: the buffer id for get()/release(); per vGPU, >= 1
  };
  uint32_t reserved = 0;  // tail padding of the kernel struct, named so it is zeroed
};

inline constexpr uint32_t kMinArgsz = offsetof(GfxPlaneInfo, dmabuf_id) + sizeof(uint32_t);

constexpr int32_t signed_pos(uint32_t v) { return static_cast<int32_t>(v); }
constexpr uint32_t pos_bits(int32_t v) { return static_cast<uint32_t>(v); }

static_assert(offsetof(GfxPlaneInfo, argsz) == 0);
static_assert(offsetof(GfxPlaneInfo, flags) == 4);
static_assert(offsetof(GfxPlaneInfo, drm_plane_type) == 8);
static_assert(offsetof(GfxPlaneInfo, drm_format) == 12);
static_assert(offsetof(GfxPlaneInfo, drm_format_mod) == 16);
static_assert(offsetof(GfxPlaneInfo, width) == 24);
static_assert(offsetof(GfxPlaneInfo, height) == 28);
static_assert(offsetof(GfxPlaneInfo, stride) == 32);
static_assert(offsetof(GfxPlaneInfo, size) == 36);
static_assert(offsetof(GfxPlaneInfo, x_pos) == 40);
static_assert(offsetof(GfxPlaneInfo, y_pos) == 44);
static_assert(offsetof(GfxPlaneInfo, x_hot) == 48);
static_assert(offsetof(GfxPlaneInfo, y_hot) == 52);
static_assert(offsetof(GfxPlaneInfo, region_index) == 56);
static_assert(offsetof(GfxPlaneInfo, dmabuf_id) == 56);
static_assert(offsetof(GfxPlaneInfo, reserved) == 60);
static_assert(sizeof(GfxPlaneInfo) == 64 && alignof(GfxPlaneInfo) == 8);
static_assert(kMinArgsz == 60);
static_assert(std::is_standard_layout_v<GfxPlaneInfo> && std::is_trivially_copyable_v<GfxPlaneInfo>);

}  // namespace vgd::proto
