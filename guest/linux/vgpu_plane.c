// SPDX-License-Identifier: GPL-2.0
/*
 * Planes: universal plane 1 (primary), 2 (sprite, offered as an overlay) and the cursor of each
 * pipe. atomic_check refuses what the device would refuse (docs/hardware.md, Planes, Pixel
 * formats, Tiling, Cursor, Decoding), so the host never has to. An update writes only the
 * registers that changed; a flip is one PLANE_SURF write, preceded by the damage hints when the
 * device takes them (docs/hardware.md, Damage hints).
 */
#include <drm/drm_atomic.h>
#include <drm/drm_atomic_helper.h>
#include <drm/drm_blend.h>
#include <drm/drm_damage_helper.h>
#include <drm/drm_drv.h>
#include <drm/drm_fourcc.h>
#include <drm/drm_framebuffer.h>
#include <drm/drm_gem_atomic_helper.h>
#include <drm/drm_gem_framebuffer_helper.h>
#include <drm/drm_plane_helper.h>
#include <linux/io-64-nonatomic-lo-hi.h>

#include "vgpu_drv.h"

static const u32 plane_formats[] = {
	DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888, DRM_FORMAT_XBGR8888, DRM_FORMAT_ABGR8888,
	DRM_FORMAT_XRGB2101010, DRM_FORMAT_XBGR2101010, DRM_FORMAT_RGB565,
	DRM_FORMAT_YUYV, DRM_FORMAT_UYVY, DRM_FORMAT_YVYU, DRM_FORMAT_VYUY,
};
static const u32 cursor_formats[] = { DRM_FORMAT_ARGB8888 };
static const u64 plane_modifiers[] = {
	DRM_FORMAT_MOD_LINEAR, I915_FORMAT_MOD_X_TILED, I915_FORMAT_MOD_Y_TILED,
	I915_FORMAT_MOD_Yf_TILED, DRM_FORMAT_MOD_INVALID,
};
static const u64 cursor_modifiers[] = { DRM_FORMAT_MOD_LINEAR, DRM_FORMAT_MOD_INVALID };

/* PLANE_CTL's format, order and alpha bits; 0 for a format the device does not scan out. */
static u32 format_ctl(u32 fourcc)
{
	switch (fourcc) {
	case DRM_FORMAT_XRGB8888: return PLANE_CTL_FORMAT(FMT_XRGB8888);
	case DRM_FORMAT_ARGB8888: return PLANE_CTL_FORMAT(FMT_XRGB8888) | PLANE_CTL_ALPHA_PREMULTIPLIED;
	case DRM_FORMAT_XBGR8888: return PLANE_CTL_FORMAT(FMT_XRGB8888) | PLANE_CTL_RGBX_ORDER;
	case DRM_FORMAT_ABGR8888:
		return PLANE_CTL_FORMAT(FMT_XRGB8888) | PLANE_CTL_RGBX_ORDER | PLANE_CTL_ALPHA_PREMULTIPLIED;
	case DRM_FORMAT_XRGB2101010: return PLANE_CTL_FORMAT(FMT_XRGB2101010);
	case DRM_FORMAT_XBGR2101010: return PLANE_CTL_FORMAT(FMT_XRGB2101010) | PLANE_CTL_RGBX_ORDER;
	case DRM_FORMAT_RGB565: return PLANE_CTL_FORMAT(FMT_RGB565);
	case DRM_FORMAT_YUYV: return PLANE_CTL_FORMAT(FMT_YUV422) | PLANE_CTL_YUV_ORDER(0);
	case DRM_FORMAT_UYVY: return PLANE_CTL_FORMAT(FMT_YUV422) | PLANE_CTL_YUV_ORDER(1);
	case DRM_FORMAT_YVYU: return PLANE_CTL_FORMAT(FMT_YUV422) | PLANE_CTL_YUV_ORDER(2);
	case DRM_FORMAT_VYUY: return PLANE_CTL_FORMAT(FMT_YUV422) | PLANE_CTL_YUV_ORDER(3);
	}
	return 0;
}

/* A layout's tiling code, stride unit and the rows a size is rounded to (docs/hardware.md, Tiling). */
struct vgpu_tiling {
	u32 code, unit, rows;
};
static bool tiling_of(u64 modifier, unsigned int cpp, struct vgpu_tiling *t)
{
	switch (modifier) {
	case DRM_FORMAT_MOD_LINEAR: *t = (struct vgpu_tiling){TILING_LINEAR, 64, 1}; return true;
	case I915_FORMAT_MOD_X_TILED: *t = (struct vgpu_tiling){TILING_X, 512, 8}; return true;
	case I915_FORMAT_MOD_Y_TILED: *t = (struct vgpu_tiling){TILING_Y, 128, 32}; return true;
	case I915_FORMAT_MOD_Yf_TILED:
		*t = cpp == 1 ? (struct vgpu_tiling){TILING_YF, 64, 64} : (struct vgpu_tiling){TILING_YF, 128, 32};
		return true;
	}
	return false;
}

static bool is_cursor(struct drm_plane *plane)
{
	return plane->type == DRM_PLANE_TYPE_CURSOR;
}

/* The framebuffer as the device will read it: stride, alignment and size inside the object. */
static int check_fb(struct drm_plane *plane, const struct drm_plane_state *st)
{
	const struct drm_framebuffer *fb = st->fb;
	const struct drm_gem_object *obj = fb->obj[0];
	unsigned int cpp = fb->format->cpp[0], h = drm_rect_height(&st->src) >> 16;
	struct vgpu_tiling t;

	if ((st->src_x >> 16) || (st->src_y >> 16)) {
		drm_dbg_atomic(plane->dev, "[PLANE:%s] source offset %u,%u: the device shows a surface from its top-left\n",
			       plane->name, st->src_x >> 16, st->src_y >> 16);
		return -EINVAL;
	}
	if (!tiling_of(fb->modifier, cpp, &t) || !format_ctl(fb->format->format))
		return -EINVAL;
	if (fb->pitches[0] % t.unit || fb->pitches[0] / t.unit > PLANE_STRIDE_MAX ||
	    fb->pitches[0] < fb->width * cpp) {
		drm_dbg_atomic(plane->dev, "[PLANE:%s] stride %u: not a multiple of %u up to %u units\n", plane->name,
			       fb->pitches[0], t.unit, PLANE_STRIDE_MAX);
		return -EINVAL;
	}
	if (fb->offsets[0] % VGPU_PAGE_SIZE ||
	    fb->offsets[0] + (u64)fb->pitches[0] * ALIGN(h, t.rows) > obj->size) {
		drm_dbg_atomic(plane->dev, "[PLANE:%s] %u rows of %u bytes at %u do not fit a %zu-byte object\n",
			       plane->name, ALIGN(h, t.rows), fb->pitches[0], fb->offsets[0], obj->size);
		return -EINVAL;
	}
	return 0;
}

static int vgpu_plane_atomic_check(struct drm_plane *plane, struct drm_atomic_state *state)
{
	struct drm_plane_state *st = drm_atomic_get_new_plane_state(state, plane);
	struct drm_crtc_state *cs = NULL;
	const struct drm_display_mode *m;
	bool primary = plane->type == DRM_PLANE_TYPE_PRIMARY;
	int ret;

	if (st->crtc)
		cs = drm_atomic_get_new_crtc_state(state, st->crtc);
	ret = drm_atomic_helper_check_plane_state(st, cs, DRM_PLANE_NO_SCALING, DRM_PLANE_NO_SCALING,
						  !primary, true);
	if (ret || !st->visible)
		return ret;
	m = &cs->mode;
	if (is_cursor(plane)) {
		const struct drm_framebuffer *fb = st->fb;

		if (fb->width != fb->height || (fb->width != 64 && fb->width != 128 && fb->width != 256) ||
		    st->crtc_w != fb->width || st->crtc_h != fb->height || fb->pitches[0] != fb->width * 4 ||
		    fb->offsets[0] % VGPU_PAGE_SIZE || fb->offsets[0] + fb->pitches[0] * fb->height > fb->obj[0]->size) {
			drm_dbg_atomic(plane->dev, "cursor %ux%u: the device shows whole 64, 128 or 256 square images\n",
				       fb->width, fb->height);
			return -EINVAL;
		}
		return 0;
	}
	if (!primary && (st->crtc_x < 0 || st->crtc_y < 0 || st->crtc_x + st->crtc_w > m->hdisplay ||
			 st->crtc_y + st->crtc_h > m->vdisplay)) {
		drm_dbg_atomic(plane->dev, "[PLANE:%s] at %d,%d %ux%u: the device does not clip sprites\n", plane->name,
			       st->crtc_x, st->crtc_y, st->crtc_w, st->crtc_h);
		return -EINVAL;
	}
	return check_fb(plane, st);
}

static int vgpu_plane_prepare_fb(struct drm_plane *plane, struct drm_plane_state *st)
{
	int ret;

	if (!st->fb)
		return 0;
	ret = drm_gem_plane_helper_prepare_fb(plane, st);
	if (ret)
		return ret;
	return vgpu_bo_bind(to_vgpu(plane->dev), to_vgpu_bo(st->fb->obj[0]));
}

static u32 fb_surface(const struct drm_framebuffer *fb)
{
	return (u32)(vgpu_bo_gm(to_vgpu_bo(fb->obj[0])) + fb->offsets[0]);
}

static void write_if_changed(struct vgpu_device *v, u32 *shadow, u32 reg, u32 val)
{
	if (*shadow != val)
		vgpu_write(v, reg, val);
	*shadow = val;
}

/* Damage hints for plane `index` (0 primary, 1 sprite), sent before the flip they belong to. */
static void submit_damage(struct vgpu_device *v, struct vgpu_pipe *p, unsigned int index,
			  struct drm_plane_state *old, struct drm_plane_state *st, bool flip)
{
	struct drm_atomic_helper_damage_iter iter;
	struct drm_rect clips[PV_DAMAGE_RECTS], clip, whole;
	unsigned int n = 0, i;
	u32 submit = PV_SUBMIT_PLANE(index) | PV_SUBMIT_PIPE(p->index) | (flip ? PV_SUBMIT_WITH_FLIP : 0);

	if (!v->damage)
		return;
	drm_rect_fp_to_int(&whole, &st->src);
	drm_atomic_helper_damage_iter_init(&iter, old, st);
	drm_atomic_for_each_plane_damage(&iter, &clip) {
		if (n < PV_DAMAGE_RECTS)
			clips[n] = clip;
		n++;
	}
	if (n == 1 && drm_rect_equals(&clips[0], &whole)) {
		if (flip)
			return; /* a flip without hints already counts as the whole plane */
		vgpu_write(v, PV_DAMAGE_SUBMIT, submit | PV_SUBMIT_WHOLE);
		return;
	}
	if (n > PV_DAMAGE_RECTS) {
		if (!drm_atomic_helper_damage_merged(old, st, &clips[0]))
			return;
		n = 1;
	}
	for (i = 0; i < n; i++) {
		u64 r = (u64)(clips[i].x1 & 0xffff) | (u64)(clips[i].y1 & 0xffff) << 16 |
			(u64)(drm_rect_width(&clips[i]) & 0xffff) << 32 | (u64)(drm_rect_height(&clips[i]) & 0xffff) << 48;

		atomic64_inc(&v->traps);
		writeq(r, v->bar0 + PV_DAMAGE_RECT(i));
	}
	if (n)
		vgpu_write(v, PV_DAMAGE_SUBMIT, submit | PV_SUBMIT_COUNT(n));
}

static void update_universal(struct vgpu_device *v, struct vgpu_pipe *p, struct drm_plane *plane,
			     struct drm_plane_state *old, struct drm_plane_state *st)
{
	unsigned int index = plane->type == DRM_PLANE_TYPE_PRIMARY ? 0 : 1, n = index + 1;
	struct drm_framebuffer *fb = st->fb;
	typeof(p->shadow[0]) *sh = &p->shadow[index];
	struct vgpu_tiling t;
	u32 ctl, surf;

	if (!st->visible) {
		write_if_changed(v, &sh->ctl, PLANE_REG(p->index, n, PLANE_CTL), 0);
		return;
	}
	tiling_of(fb->modifier, fb->format->cpp[0], &t);
	ctl = PLANE_CTL_ENABLE | format_ctl(fb->format->format) | PLANE_CTL_TILING(t.code);
	write_if_changed(v, &sh->ctl, PLANE_REG(p->index, n, PLANE_CTL), ctl);
	write_if_changed(v, &sh->stride, PLANE_REG(p->index, n, PLANE_STRIDE), fb->pitches[0] / t.unit);
	write_if_changed(v, &sh->size, PLANE_REG(p->index, n, PLANE_SIZE),
			 PLANE_XY(drm_rect_width(&st->dst) - 1, drm_rect_height(&st->dst) - 1));
	if (index == 1)
		write_if_changed(v, &sh->pos, PLANE_REG(p->index, n, PLANE_POS), PLANE_XY(st->dst.x1, st->dst.y1));
	surf = fb_surface(fb);
	submit_damage(v, p, index, old, st, surf != sh->surf);
	if (surf != sh->surf) {
		vgpu_pipe_owe(p, index, surf);
		vgpu_write(v, PLANE_REG(p->index, n, PLANE_SURF), surf);
		sh->surf = surf;
	}
}

/* CURPOS: sign and magnitude per axis. */
static u32 cursor_pos(int x, int y)
{
	return (u32)abs(x) | (x < 0 ? BIT(15) : 0) | (u32)abs(y) << 16 | (y < 0 ? BIT(31) : 0);
}

static void update_cursor(struct vgpu_device *v, struct vgpu_pipe *p, struct drm_plane_state *st)
{
	typeof(p->cursor_shadow) *sh = &p->cursor_shadow;
	const struct drm_framebuffer *fb = st->fb;
	u32 base, pos, mode;

	if (!st->visible) {
		write_if_changed(v, &sh->cntr, PIPE_REG(p->index, CURCNTR), 0);
		return;
	}
	write_if_changed(v, &sh->hot_x, PV_CURSOR_X_HOT, fb->hot_x);
	write_if_changed(v, &sh->hot_y, PV_CURSOR_Y_HOT, fb->hot_y);
	mode = fb->width == 64 ? CUR_MODE_ARGB64 : fb->width == 128 ? CUR_MODE_ARGB128 : CUR_MODE_ARGB256;
	write_if_changed(v, &sh->cntr, PIPE_REG(p->index, CURCNTR), mode | CURCNTR_ASYNC);
	pos = cursor_pos(st->crtc_x, st->crtc_y);
	base = fb_surface(fb);
	if (pos == sh->pos && base == sh->base)
		return;
	write_if_changed(v, &sh->pos, PIPE_REG(p->index, CURPOS), pos);
	/* The device takes a cursor move or image change with the CURBASE write, as i915 does. */
	vgpu_write(v, PIPE_REG(p->index, CURBASE), base);
	sh->base = base;
}

static void vgpu_plane_atomic_update(struct drm_plane *plane, struct drm_atomic_state *state)
{
	struct drm_plane_state *st = drm_atomic_get_new_plane_state(state, plane);
	struct drm_plane_state *old = drm_atomic_get_old_plane_state(state, plane);
	struct drm_crtc *crtc = st->crtc ? st->crtc : old->crtc;
	struct vgpu_device *v = to_vgpu(plane->dev);

	if (!crtc || v->unbound)
		return;
	if (is_cursor(plane))
		update_cursor(v, crtc_to_pipe(crtc), st);
	else
		update_universal(v, crtc_to_pipe(crtc), plane, old, st);
}

static bool vgpu_format_mod_supported(struct drm_plane *plane, u32 format, u64 modifier)
{
	struct vgpu_tiling t;

	if (is_cursor(plane))
		return format == DRM_FORMAT_ARGB8888 && modifier == DRM_FORMAT_MOD_LINEAR;
	return tiling_of(modifier, drm_format_info(format)->cpp[0], &t);
}

static const struct drm_plane_helper_funcs vgpu_plane_helpers = {
	.prepare_fb = vgpu_plane_prepare_fb,
	.atomic_check = vgpu_plane_atomic_check,
	.atomic_update = vgpu_plane_atomic_update,
};

static const struct drm_plane_funcs vgpu_plane_funcs = {
	.update_plane = drm_atomic_helper_update_plane,
	.disable_plane = drm_atomic_helper_disable_plane,
	.destroy = drm_plane_cleanup,
	.reset = drm_atomic_helper_plane_reset,
	.atomic_duplicate_state = drm_atomic_helper_plane_duplicate_state,
	.atomic_destroy_state = drm_atomic_helper_plane_destroy_state,
	.format_mod_supported = vgpu_format_mod_supported,
};

static int init_plane(struct vgpu_device *v, struct vgpu_pipe *p, struct drm_plane *plane,
		      enum drm_plane_type type, unsigned int zpos, const char *what)
{
	bool cursor = type == DRM_PLANE_TYPE_CURSOR;
	int ret = drm_universal_plane_init(&v->drm, plane, BIT(p->index), &vgpu_plane_funcs,
					   cursor ? cursor_formats : plane_formats,
					   cursor ? ARRAY_SIZE(cursor_formats) : ARRAY_SIZE(plane_formats),
					   cursor ? cursor_modifiers : plane_modifiers, type, "pipe %c %s",
					   'A' + p->index, what);

	if (ret)
		return ret;
	drm_plane_helper_add(plane, &vgpu_plane_helpers);
	if (!cursor)
		drm_plane_enable_fb_damage_clips(plane);
	/* Stacking is fixed: primary, sprite, cursor (docs/protocol.md). */
	return drm_plane_create_zpos_immutable_property(plane, zpos);
}

int vgpu_planes_init(struct vgpu_device *v, struct vgpu_pipe *p)
{
	int ret = init_plane(v, p, &p->primary, DRM_PLANE_TYPE_PRIMARY, 0, "primary");

	if (!ret)
		ret = init_plane(v, p, &p->sprite, DRM_PLANE_TYPE_OVERLAY, 1, "sprite");
	if (!ret)
		ret = init_plane(v, p, &p->cursor, DRM_PLANE_TYPE_CURSOR, 2, "cursor");
	return ret;
}
