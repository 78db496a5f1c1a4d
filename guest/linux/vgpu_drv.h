/* SPDX-License-Identifier: GPL-2.0 */
/* vgpu_drm: a DRM/KMS driver for vgpu-display's vGPU (docs/guest-driver.md). */
#ifndef VGPU_DRV_H
#define VGPU_DRV_H

#include <drm/drm_crtc.h>
#include <drm/drm_device.h>
#include <drm/drm_encoder.h>
#include <drm/drm_connector.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_mm.h>
#include <drm/drm_plane.h>
#include <linux/hrtimer.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>

#include "vgpu_regs.h"

#define DRIVER_NAME "vgpu_drm"

/* A GM range: base and size in bytes. */
struct vgpu_gm_range {
	u64 base, size;
};

struct vgpu_device;

struct vgpu_pipe {
	struct vgpu_device *v;
	struct drm_crtc crtc;
	struct drm_plane primary, sprite, cursor;
	unsigned int index;
	/* Vblank and flip completion, polled (or from the interrupt, when one arrives). */
	struct hrtimer poll;
	ktime_t period;
	spinlock_t lock;           /* guards the fields below; taken in the timer */
	bool lit;                  /* pipe enabled: the poller reads its frame counter */
	bool vblank_on;            /* DRM wants vblank events */
	u32 frame;                 /* PIPE_FRMCOUNT as last read */
	/* The pending commit's event waits until SURFLIVE shows each address it flipped to. */
	struct drm_pending_vblank_event *event;
	u32 owed_surf[2];          /* primary, sprite: the GM address written, 0 = nothing owed */
	bool polling;              /* the poll timer is queued or will re-arm itself */
	/* What the registers hold, so an update writes only what changed (~0: unknown). */
	struct { u32 ctl, stride, pos, size, surf; } shadow[2];
	struct { u32 cntr, pos, base, hot_x, hot_y; } cursor_shadow;
};

struct vgpu_device {
	struct drm_device drm;
	struct pci_dev *pdev;
	void __iomem *bar0;
	u64 bar0_len;
	/* From PVINFO. */
	u32 vgt_id, caps, fence_num;
	u32 max_width, max_height; /* the type's largest mode, if PVINFO says; else 0 */
	struct vgpu_gm_range mappable, hidden;
	u64 ggtt_size, aperture_size;
	/* GM allocator with the balloon: everything outside our two slices is reserved. */
	struct mutex gm_lock;
	struct drm_mm gm;
	struct drm_mm_node balloon[4];
	bool damage;               /* the device takes damage hints and we enabled them */
	/*
	 * vgpu_remove has turned everything off and scrubbed the GGTT; BAR0 goes away after it. Not
	 * drm_dev_enter(): remove unplugs the DRM device first (no new ioctls) and still has to turn
	 * pipes off and scrub buffers that fbdev and the last commit let go of.
	 */
	bool unbound;
	struct drm_encoder encoder;
	struct drm_connector connector;
	struct vgpu_pipe pipes[VGPU_PIPES];
	unsigned int num_pipes;
	atomic64_t traps;          /* register accesses this driver made (sysfs vgpu_traps) */
	atomic64_t poll_reads;     /* of which the vblank poller's frame-counter reads (vgpu_poll_reads) */
	bool have_irq;             /* the INTx handler is installed */
	bool irq_seen;             /* an interrupt arrived: vblanks come from it, not the poller */
};

static inline struct vgpu_device *to_vgpu(struct drm_device *d)
{
	return container_of(d, struct vgpu_device, drm);
}

/* Every other node of the GM allocator is a bound object's range. */
static inline bool vgpu_is_balloon(const struct vgpu_device *v, const struct drm_mm_node *n)
{
	return n >= &v->balloon[0] && n < &v->balloon[ARRAY_SIZE(v->balloon)];
}

/* Register access: each one is one trapped access in the VM. */
static inline u32 vgpu_read(struct vgpu_device *v, u32 off)
{
	atomic64_inc(&v->traps);
	return readl(v->bar0 + off);
}
static inline void vgpu_write(struct vgpu_device *v, u32 off, u32 val)
{
	atomic64_inc(&v->traps);
	writel(val, v->bar0 + off);
}

/* GEM objects: shmem pages, bound into the GGTT while the object lives (vgpu_gem.c). */
struct vgpu_bo {
	struct drm_gem_shmem_object base;
	struct drm_mm_node node;   /* its GM range once bound */
};
static inline struct vgpu_bo *to_vgpu_bo(struct drm_gem_object *obj)
{
	return container_of(to_drm_gem_shmem_obj(obj), struct vgpu_bo, base);
}
struct drm_gem_object *vgpu_gem_create_object(struct drm_device *dev, size_t size);
int vgpu_bo_bind(struct vgpu_device *v, struct vgpu_bo *bo);
u64 vgpu_bo_gm(struct vgpu_bo *bo);
void vgpu_gm_scrub(struct vgpu_device *v, u64 base, u64 size);
void vgpu_gem_unbind_all(struct vgpu_device *v);

/* KMS (vgpu_kms.c). */
int vgpu_kms_init(struct vgpu_device *v);
void vgpu_kms_fini(struct vgpu_device *v);
irqreturn_t vgpu_irq(int irq, void *arg);

/* Planes (vgpu_plane.c). */
int vgpu_planes_init(struct vgpu_device *v, struct vgpu_pipe *p);
void vgpu_pipe_owe(struct vgpu_pipe *p, unsigned int plane, u32 surf);
static inline struct vgpu_pipe *crtc_to_pipe(struct drm_crtc *crtc)
{
	return container_of(crtc, struct vgpu_pipe, crtc);
}
static inline struct vgpu_device *pipe_to_vgpu(struct vgpu_pipe *p)
{
	return p->v;
}

#endif
