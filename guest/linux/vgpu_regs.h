/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vGPU's registers as the driver uses them. The device's facts and their sources are in the
 * repository's docs/hardware.md (BAR0, PVINFO, Pipes, Refresh rate, Planes, Pixel formats,
 * Tiling, Cursor, Flips, Interrupts, Damage hints); this is the guest's copy of the offsets.
 */
#ifndef VGPU_REGS_H
#define VGPU_REGS_H

#include <linux/bits.h>

#define VGPU_PCI_VENDOR 0x1af4
#define VGPU_PCI_DEVICE 0x10f0

/* BAR0: registers below 2 MiB, the GGTT's 8-byte entries from 8 MiB. */
#define VGPU_GTT_OFFSET 0x800000u
#define VGPU_PAGE_SIZE 4096u
#define VGPU_PTE_PRESENT 1ull
#define VGPU_PTE_ADDR_MASK 0x0000007ffffff000ull /* bits 38:12 */
#define VGPU_DEFAULT_APERTURE (512u << 20)

/* PVINFO page. */
#define VGPU_PVINFO 0x78000u
#define PV_MAGIC (VGPU_PVINFO + 0x000)
#define PV_MAGIC_VALUE 0x4776544776544776ull
#define PV_VERSION_MAJOR (VGPU_PVINFO + 0x008)
#define PV_VERSION_MINOR (VGPU_PVINFO + 0x00a)
#define PV_VGT_ID (VGPU_PVINFO + 0x00c)
#define PV_CAPS (VGPU_PVINFO + 0x010)
#define PV_CAP_DAMAGE BIT(16)
#define PV_MAPPABLE_BASE (VGPU_PVINFO + 0x040)
#define PV_MAPPABLE_SIZE (VGPU_PVINFO + 0x044)
#define PV_HIDDEN_BASE (VGPU_PVINFO + 0x048)
#define PV_HIDDEN_SIZE (VGPU_PVINFO + 0x04c)
#define PV_FENCE_NUM (VGPU_PVINFO + 0x050)
/* Our extension: the vGPU type's largest mode, 15:0 width, 31:16 height; 0 = not told. */
#define PV_MAX_MODE (VGPU_PVINFO + 0x058)
#define PV_DISPLAY_READY (VGPU_PVINFO + 0x804)
#define PV_CURSOR_X_HOT (VGPU_PVINFO + 0x830)
#define PV_CURSOR_Y_HOT (VGPU_PVINFO + 0x834)
/* Damage hints (our extension). */
#define PV_DAMAGE_RECT(i) (VGPU_PVINFO + 0x880 + 8 * (i))
#define PV_DAMAGE_RECTS 16
#define PV_DAMAGE_CTL (VGPU_PVINFO + 0x900)
#define PV_DAMAGE_ENABLE BIT(0)
#define PV_DAMAGE_SUBMIT (VGPU_PVINFO + 0x904)
#define PV_SUBMIT_COUNT(n) ((u32)(n) & 0x1f)
#define PV_SUBMIT_PLANE(p) (((u32)(p) & 3) << 8)
#define PV_SUBMIT_PIPE(p) (((u32)(p) & 3) << 12)
#define PV_SUBMIT_WITH_FLIP BIT(30)
#define PV_SUBMIT_WHOLE BIT(31)

/* Transcoder and pipe, + 0x1000 per pipe. */
#define VGPU_PIPE_STRIDE 0x1000u
#define TRANS_HTOTAL 0x60000u
#define TRANS_VTOTAL 0x6000cu
#define PIPESRC 0x6001cu
#define PIPE_LINK_M1 0x60040u
#define PIPE_LINK_N1 0x60044u
#define PIPECONF 0x70008u
#define PIPECONF_ENABLE BIT(31)
#define PIPECONF_ACTIVE BIT(30)
#define PIPE_FRMCOUNT 0x70040u
#define PIPE_REG(pipe, r) ((r) + VGPU_PIPE_STRIDE * (pipe))

/* DPLL 1 at the 1350 MHz link rate (code 1, 270000 kHz) drives DDI port D (3). */
#define DPLL_CTRL1 0x6c058u
#define DPLL_CTRL2 0x6c05cu
#define VGPU_DPLL 1
#define VGPU_PORT_D 3
#define VGPU_LINK_RATE_CODE 1
#define VGPU_LINK_KHZ 270000u
#define VGPU_LINK_N 0x80000u

/* Universal planes: 1 primary, 2 sprite. */
#define PLANE_REG(pipe, n, r) (0x70080u + 0x100u * (n) + VGPU_PIPE_STRIDE * (pipe) + (r))
#define PLANE_CTL 0x00
#define PLANE_STRIDE 0x08
#define PLANE_POS 0x0c
#define PLANE_SIZE 0x10
#define PLANE_SURF 0x1c
#define PLANE_OFFSET 0x24
#define PLANE_SURFLIVE 0x2c
#define PLANE_CTL_ENABLE BIT(31)
#define PLANE_CTL_FORMAT(code) ((u32)(code) << 24)
#define PLANE_CTL_RGBX_ORDER BIT(20)
#define PLANE_CTL_YUV_ORDER(o) ((u32)(o) << 16)
#define PLANE_CTL_TILING(code) ((u32)(code) << 10)
#define PLANE_CTL_ALPHA_PREMULTIPLIED (2u << 4)
#define PLANE_STRIDE_MAX 0x3ffu /* the stride field the device reads, in tiling units */
#define PLANE_XY(x, y) ((((u32)(y) & 0x1fff) << 16) | ((u32)(x) & 0x1fff))

/* Pixel format codes (PLANE_CTL 27:24). */
#define FMT_YUV422 0
#define FMT_XRGB2101010 2
#define FMT_XRGB8888 4
#define FMT_RGB565 14

/* Tiling codes (PLANE_CTL 12:10). */
#define TILING_LINEAR 0
#define TILING_X 1
#define TILING_Y 4
#define TILING_YF 5

/* Cursor, + 0x1000 per pipe. */
#define CURCNTR 0x70080u
#define CURBASE 0x70084u
#define CURPOS 0x70088u
#define CURCNTR_ASYNC BIT(9)
#define CUR_MODE_ARGB64 0x27u
#define CUR_MODE_ARGB128 0x22u
#define CUR_MODE_ARGB256 0x23u

/* Display-engine interrupts. */
#define MASTER_IRQ 0x44200u
#define MASTER_IRQ_ENABLE BIT(31)
#define MASTER_PIPE(pipe) BIT(16 + (pipe))
#define DE_PIPE_IMR(pipe) (0x44404u + 0x10u * (pipe))
#define DE_PIPE_IIR(pipe) (0x44408u + 0x10u * (pipe))
#define DE_PIPE_IER(pipe) (0x4440cu + 0x10u * (pipe))
#define IRQ_VBLANK BIT(0)
#define IRQ_PRIMARY_FLIP BIT(3)
#define IRQ_SPRITE_FLIP BIT(4)
#define IRQ_CURSOR_FLIP BIT(6)

#define VGPU_PIPES 3

#endif
