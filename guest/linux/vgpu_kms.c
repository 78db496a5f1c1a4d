// SPDX-License-Identifier: GPL-2.0
/*
 * Mode setting, vblank and flip completion. One CRTC per pipe, one virtual connector.
 *
 * A flip completes when the device says so: the pending commit's event is sent at the first
 * vblank at which each plane's PLANE_SURFLIVE shows the address the commit wrote (docs/hardware.md,
 * Flips). Vblanks come from the device's interrupt when one arrives (KVM); a VM under TCG gets
 * none (docs/vm.md, INTx), so until the first interrupt a timer polls PIPE_FRMCOUNT while anyone
 * waits for a vblank or a flip. The poll locks onto the device's vblank grid: after seeing the
 * counter move it sleeps until one step before the next vblank is due, then polls every step, so
 * a frame costs about two reads and a vblank is seen at most one step late.
 */
#include <drm/drm_atomic.h>
#include <drm/drm_atomic_helper.h>
#include <drm/drm_drv.h>
#include <drm/drm_edid.h>
#include <drm/drm_gem_framebuffer_helper.h>
#include <drm/drm_modeset_helper_vtables.h>
#include <drm/drm_probe_helper.h>
#include <drm/drm_simple_kms_helper.h>
#include <drm/drm_vblank.h>
#include <linux/module.h>

#include "vgpu_drv.h"

static unsigned int max_width = 1920, max_height = 1200;
module_param(max_width, uint, 0444);
MODULE_PARM_DESC(max_width, "Widest mode offered (the vGPU type's limit; default 1920)");
module_param(max_height, uint, 0444);
MODULE_PARM_DESC(max_height, "Tallest mode offered (default 1200)");
static unsigned int pipes = VGPU_PIPES;
module_param(pipes, uint, 0444);
MODULE_PARM_DESC(pipes, "CRTCs to expose, 1 to 3 (default 3)");

/* --- vblank and flip completion ------------------------------------------------------------ */

/* A sixteenth of a frame (about 1 ms at 60 Hz), never under 250 us. */
static ktime_t poll_step(const struct vgpu_pipe *p)
{
	return max_t(ktime_t, ktime_divns(p->period, 16), 250 * NSEC_PER_USEC);
}

static void poll_start_locked(struct vgpu_pipe *p)
{
	if (p->polling || p->v->irq_seen || !p->lit)
		return;
	p->polling = true;
	hrtimer_start(&p->poll, poll_step(p), HRTIMER_MODE_REL);
}

/* The frame counter moved: which owed flips latched, and the event if all did. Under p->lock. */
static struct drm_pending_vblank_event *frame_moved_locked(struct vgpu_pipe *p)
{
	struct drm_pending_vblank_event *e = NULL;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		u32 live;

		if (!p->owed_surf[i])
			continue;
		live = vgpu_read(p->v, PLANE_REG(p->index, i + 1, PLANE_SURFLIVE)) & ~0xfffu;
		if (live == p->owed_surf[i])
			p->owed_surf[i] = 0;
	}
	if (p->event && !p->owed_surf[0] && !p->owed_surf[1]) {
		e = p->event;
		p->event = NULL;
	}
	return e;
}

static void send_event(struct vgpu_pipe *p, struct drm_pending_vblank_event *e)
{
	struct drm_device *dev = p->crtc.dev;
	unsigned long flags;

	spin_lock_irqsave(&dev->event_lock, flags);
	drm_crtc_send_vblank_event(&p->crtc, e);
	spin_unlock_irqrestore(&dev->event_lock, flags);
	drm_crtc_vblank_put(&p->crtc);
}

/* Reads the frame counter; on a change runs DRM's vblank and completes what latched. */
static bool pipe_tick(struct vgpu_pipe *p, bool from_timer)
{
	struct drm_pending_vblank_event *e = NULL;
	unsigned long flags;
	bool moved = false, again;
	u32 frame;

	spin_lock_irqsave(&p->lock, flags);
	if (p->lit) {
		if (from_timer)
			atomic64_inc(&p->v->poll_reads);
		frame = vgpu_read(p->v, PIPE_REG(p->index, PIPE_FRMCOUNT));
		moved = frame != p->frame;
		p->frame = frame;
		if (moved)
			e = frame_moved_locked(p);
	}
	again = p->lit && !p->v->irq_seen && (p->vblank_on || p->event);
	if (from_timer) {
		p->polling = again;
		if (again)
			hrtimer_forward_now(&p->poll, moved ? p->period - poll_step(p) : poll_step(p));
	}
	spin_unlock_irqrestore(&p->lock, flags);
	if (moved)
		drm_crtc_handle_vblank(&p->crtc);
	if (e)
		send_event(p, e);
	return again;
}

static enum hrtimer_restart vgpu_poll(struct hrtimer *t)
{
	return pipe_tick(container_of(t, struct vgpu_pipe, poll), true) ? HRTIMER_RESTART : HRTIMER_NORESTART;
}

irqreturn_t vgpu_irq(int irq, void *arg)
{
	struct vgpu_device *v = arg;
	u32 master = vgpu_read(v, MASTER_IRQ);
	bool handled = false;
	unsigned int i;

	for (i = 0; i < v->num_pipes; i++) {
		u32 iir;

		if (!(master & MASTER_PIPE(i)))
			continue;
		iir = vgpu_read(v, DE_PIPE_IIR(i));
		vgpu_write(v, DE_PIPE_IIR(i), iir); /* write 1 to clear: drops the level */
		handled = true;
		WRITE_ONCE(v->irq_seen, true);
		if (iir & IRQ_VBLANK)
			pipe_tick(&v->pipes[i], false);
	}
	return handled ? IRQ_HANDLED : IRQ_NONE;
}

void vgpu_pipe_owe(struct vgpu_pipe *p, unsigned int plane, u32 surf)
{
	unsigned long flags;

	spin_lock_irqsave(&p->lock, flags);
	p->owed_surf[plane] = p->lit ? surf : 0; /* a stopped pipe latches at once */
	spin_unlock_irqrestore(&p->lock, flags);
}

static int vgpu_enable_vblank(struct drm_crtc *crtc)
{
	struct vgpu_pipe *p = crtc_to_pipe(crtc);
	unsigned long flags;

	spin_lock_irqsave(&p->lock, flags);
	p->vblank_on = true;
	poll_start_locked(p);
	spin_unlock_irqrestore(&p->lock, flags);
	return 0;
}

static void vgpu_disable_vblank(struct drm_crtc *crtc)
{
	struct vgpu_pipe *p = crtc_to_pipe(crtc);
	unsigned long flags;

	spin_lock_irqsave(&p->lock, flags);
	p->vblank_on = false;
	spin_unlock_irqrestore(&p->lock, flags);
}

/* While the poller runs its last reading is current enough; otherwise read the device. */
static u32 vgpu_get_vblank_counter(struct drm_crtc *crtc)
{
	struct vgpu_pipe *p = crtc_to_pipe(crtc);
	unsigned long flags;
	u32 frame;

	spin_lock_irqsave(&p->lock, flags);
	if (p->lit && !p->polling)
		p->frame = vgpu_read(p->v, PIPE_REG(p->index, PIPE_FRMCOUNT));
	frame = p->frame;
	spin_unlock_irqrestore(&p->lock, flags);
	return frame;
}

/* --- CRTC ---------------------------------------------------------------------------------- */

/* The module's limit, lowered to the vGPU type's when PVINFO tells it (docs/hardware.md, PVINFO). */
static unsigned int limit_width(const struct vgpu_device *v)
{
	return v->max_width ? min(max_width, v->max_width) : max_width;
}
static unsigned int limit_height(const struct vgpu_device *v)
{
	return v->max_height ? min(max_height, v->max_height) : max_height;
}

static enum drm_mode_status vgpu_crtc_mode_valid(struct drm_crtc *crtc, const struct drm_display_mode *m)
{
	struct vgpu_device *v = crtc_to_pipe(crtc)->v;
	int refresh = drm_mode_vrefresh(m);

	if (m->hdisplay > limit_width(v) || m->vdisplay > limit_height(v))
		return MODE_BAD;
	/* The device runs its vblank clock at 24 to 240 Hz (docs/hardware.md, Refresh rate). */
	if (refresh < 24 || refresh > 240 || m->flags & DRM_MODE_FLAG_INTERLACE)
		return MODE_BAD;
	return MODE_OK;
}

static void program_mode(struct vgpu_device *v, unsigned int i, const struct drm_display_mode *m)
{
	u64 link_m = DIV_ROUND_CLOSEST_ULL((u64)m->crtc_clock * VGPU_LINK_N, VGPU_LINK_KHZ);
	u32 ctrl;

	/* The pixel clock travels as link M/N over DPLL 1 driving port D (docs/hardware.md, Refresh rate). */
	ctrl = vgpu_read(v, DPLL_CTRL1) & ~(7u << (VGPU_DPLL * 6 + 1));
	vgpu_write(v, DPLL_CTRL1, ctrl | VGPU_LINK_RATE_CODE << (VGPU_DPLL * 6 + 1));
	ctrl = vgpu_read(v, DPLL_CTRL2) & ~(3u << (VGPU_PORT_D * 3 + 1));
	vgpu_write(v, DPLL_CTRL2, ctrl | VGPU_DPLL << (VGPU_PORT_D * 3 + 1));
	vgpu_write(v, PIPE_REG(i, PIPE_LINK_M1), (u32)link_m);
	vgpu_write(v, PIPE_REG(i, PIPE_LINK_N1), VGPU_LINK_N);
	vgpu_write(v, PIPE_REG(i, TRANS_HTOTAL), (m->crtc_htotal - 1) << 16 | (m->crtc_hdisplay - 1));
	vgpu_write(v, PIPE_REG(i, TRANS_VTOTAL), (m->crtc_vtotal - 1) << 16 | (m->crtc_vdisplay - 1));
	vgpu_write(v, PIPE_REG(i, PIPESRC), (m->crtc_hdisplay - 1) << 16 | (m->crtc_vdisplay - 1));
}

static void vgpu_crtc_atomic_enable(struct drm_crtc *crtc, struct drm_atomic_state *state)
{
	struct vgpu_pipe *p = crtc_to_pipe(crtc);
	struct vgpu_device *v = p->v;
	const struct drm_display_mode *m = &crtc->state->adjusted_mode;
	unsigned int i = p->index;
	unsigned long flags;
	bool active;

	if (v->unbound)
		return;
	vgpu_write(v, PIPE_REG(i, PIPECONF), 0);
	program_mode(v, i, m);
	/* Only the vblank interrupt: flips complete by SURFLIVE, so no flip-done bit needs clearing. */
	vgpu_write(v, DE_PIPE_IMR(i), ~(u32)IRQ_VBLANK);
	vgpu_write(v, DE_PIPE_IER(i), IRQ_VBLANK);
	vgpu_write(v, DE_PIPE_IIR(i), ~0u);
	vgpu_write(v, MASTER_IRQ, MASTER_IRQ_ENABLE);
	vgpu_write(v, PIPE_REG(i, PIPECONF), PIPECONF_ENABLE);
	active = vgpu_read(v, PIPE_REG(i, PIPECONF)) & PIPECONF_ACTIVE;
	if (!active) {
		/* Nothing will latch or tick: the commit's event goes out at once (see atomic_flush). */
		drm_err(crtc->dev, "pipe %c did not light for %dx%d@%d: beyond this vGPU type's largest mode?\n",
			'A' + i, m->hdisplay, m->vdisplay, drm_mode_vrefresh(m));
		return;
	}
	memset(&p->shadow, 0xff, sizeof(p->shadow));
	memset(&p->cursor_shadow, 0xff, sizeof(p->cursor_shadow));
	spin_lock_irqsave(&p->lock, flags);
	p->lit = true;
	p->period = ns_to_ktime(div_u64((u64)m->crtc_htotal * m->crtc_vtotal * 1000000ull, m->crtc_clock));
	p->frame = vgpu_read(v, PIPE_REG(i, PIPE_FRMCOUNT));
	p->owed_surf[0] = p->owed_surf[1] = 0;
	spin_unlock_irqrestore(&p->lock, flags);
	drm_crtc_vblank_on(crtc);
}

static void vgpu_crtc_atomic_disable(struct drm_crtc *crtc, struct drm_atomic_state *state)
{
	struct vgpu_pipe *p = crtc_to_pipe(crtc);
	struct vgpu_device *v = p->v;
	struct drm_pending_vblank_event *e;
	unsigned long flags;

	spin_lock_irqsave(&p->lock, flags);
	p->lit = false;
	e = p->event;
	p->event = NULL;
	spin_unlock_irqrestore(&p->lock, flags);
	hrtimer_cancel(&p->poll);
	p->polling = false;
	if (e) /* a flip that will never latch now: complete it rather than leave it hanging */
		send_event(p, e);
	drm_crtc_vblank_off(crtc);
	if (!v->unbound) {
		vgpu_write(v, PLANE_REG(p->index, 1, PLANE_CTL), 0);
		vgpu_write(v, PLANE_REG(p->index, 2, PLANE_CTL), 0);
		vgpu_write(v, PIPE_REG(p->index, CURCNTR), 0);
		vgpu_write(v, PIPE_REG(p->index, PIPECONF), 0);
	}
	spin_lock_irqsave(&crtc->dev->event_lock, flags);
	if (crtc->state->event) {
		drm_crtc_send_vblank_event(crtc, crtc->state->event);
		crtc->state->event = NULL;
	}
	spin_unlock_irqrestore(&crtc->dev->event_lock, flags);
}

/* The commit's writes are done: its event waits for the device (see the top of this file). */
static void vgpu_crtc_atomic_flush(struct drm_crtc *crtc, struct drm_atomic_state *state)
{
	struct vgpu_pipe *p = crtc_to_pipe(crtc);
	struct drm_pending_vblank_event *e = crtc->state->event;
	unsigned long flags;

	if (!e)
		return;
	crtc->state->event = NULL;
	if (!p->lit || drm_crtc_vblank_get(crtc)) { /* the pipe is off: nothing will latch */
		spin_lock_irqsave(&crtc->dev->event_lock, flags);
		drm_crtc_send_vblank_event(crtc, e);
		spin_unlock_irqrestore(&crtc->dev->event_lock, flags);
		return;
	}
	spin_lock_irqsave(&p->lock, flags);
	WARN_ON(p->event);
	p->event = e;
	poll_start_locked(p);
	spin_unlock_irqrestore(&p->lock, flags);
}

static const struct drm_crtc_helper_funcs vgpu_crtc_helpers = {
	.mode_valid = vgpu_crtc_mode_valid,
	.atomic_enable = vgpu_crtc_atomic_enable,
	.atomic_disable = vgpu_crtc_atomic_disable,
	.atomic_flush = vgpu_crtc_atomic_flush,
};

static const struct drm_crtc_funcs vgpu_crtc_funcs = {
	.reset = drm_atomic_helper_crtc_reset,
	.destroy = drm_crtc_cleanup,
	.set_config = drm_atomic_helper_set_config,
	.page_flip = drm_atomic_helper_page_flip,
	.atomic_duplicate_state = drm_atomic_helper_crtc_duplicate_state,
	.atomic_destroy_state = drm_atomic_helper_crtc_destroy_state,
	.enable_vblank = vgpu_enable_vblank,
	.disable_vblank = vgpu_disable_vblank,
	.get_vblank_counter = vgpu_get_vblank_counter,
};

/* --- connector and mode config ------------------------------------------------------------- */

static int vgpu_get_modes(struct drm_connector *c)
{
	struct vgpu_device *v = to_vgpu(c->dev);
	int n = drm_add_modes_noedid(c, limit_width(v), limit_height(v));

	drm_set_preferred_mode(c, 1024, 768);
	return n;
}

static const struct drm_connector_helper_funcs vgpu_connector_helpers = {
	.get_modes = vgpu_get_modes,
};

static const struct drm_connector_funcs vgpu_connector_funcs = {
	.fill_modes = drm_helper_probe_single_connector_modes,
	.destroy = drm_connector_cleanup,
	.reset = drm_atomic_helper_connector_reset,
	.atomic_duplicate_state = drm_atomic_helper_connector_duplicate_state,
	.atomic_destroy_state = drm_atomic_helper_connector_destroy_state,
};

/*
 * Pipes light before their planes are written, so a plane's first surface latches at a vblank
 * like every later flip; then the commit waits for its event, which the device's latch sends.
 */
static void vgpu_commit_tail(struct drm_atomic_state *state)
{
	struct drm_device *dev = state->dev;

	drm_atomic_helper_commit_modeset_disables(dev, state);
	drm_atomic_helper_commit_modeset_enables(dev, state);
	drm_atomic_helper_commit_planes(dev, state, DRM_PLANE_COMMIT_ACTIVE_ONLY);
	drm_atomic_helper_commit_hw_done(state);
	drm_atomic_helper_wait_for_flip_done(dev, state);
	drm_atomic_helper_cleanup_planes(dev, state);
}

static const struct drm_mode_config_helper_funcs vgpu_mode_config_helpers = {
	.atomic_commit_tail = vgpu_commit_tail,
};

static const struct drm_mode_config_funcs vgpu_mode_config_funcs = {
	.fb_create = drm_gem_fb_create_with_dirty,
	.atomic_check = drm_atomic_helper_check,
	.atomic_commit = drm_atomic_helper_commit,
};

int vgpu_kms_init(struct vgpu_device *v)
{
	struct drm_device *dev = &v->drm;
	unsigned int i;
	int ret;

	ret = drmm_mode_config_init(dev);
	if (ret)
		return ret;
	dev->mode_config.min_width = 64;
	dev->mode_config.min_height = 64;
	dev->mode_config.max_width = 8192; /* framebuffers; modes are bounded by max_width */
	dev->mode_config.max_height = 4096;
	dev->mode_config.cursor_width = 64;
	dev->mode_config.cursor_height = 64;
	dev->mode_config.preferred_depth = 24;
	dev->mode_config.funcs = &vgpu_mode_config_funcs;
	dev->mode_config.helper_private = &vgpu_mode_config_helpers;
	v->num_pipes = clamp(pipes, 1u, (unsigned int)VGPU_PIPES);
	for (i = 0; i < v->num_pipes; i++) {
		struct vgpu_pipe *p = &v->pipes[i];

		p->v = v;
		p->index = i;
		spin_lock_init(&p->lock);
		hrtimer_init(&p->poll, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
		p->poll.function = vgpu_poll;
		ret = vgpu_planes_init(v, p);
		if (ret)
			return ret;
		ret = drm_crtc_init_with_planes(dev, &p->crtc, &p->primary, &p->cursor, &vgpu_crtc_funcs,
						"pipe %c", 'A' + i);
		if (ret)
			return ret;
		drm_crtc_helper_add(&p->crtc, &vgpu_crtc_helpers);
	}
	ret = drm_simple_encoder_init(dev, &v->encoder, DRM_MODE_ENCODER_VIRTUAL);
	if (ret)
		return ret;
	v->encoder.possible_crtcs = GENMASK(v->num_pipes - 1, 0);
	ret = drm_connector_init(dev, &v->connector, &vgpu_connector_funcs, DRM_MODE_CONNECTOR_VIRTUAL);
	if (ret)
		return ret;
	drm_connector_helper_add(&v->connector, &vgpu_connector_helpers);
	ret = drm_connector_attach_encoder(&v->connector, &v->encoder);
	if (ret)
		return ret;
	ret = drm_vblank_init(dev, v->num_pipes);
	if (ret)
		return ret;
	dev->max_vblank_count = 0xffffffff;
	/* Vblank stays on for drm_vblank_offdelay after its last user, so the poll keeps its lock. */
	drm_mode_config_reset(dev);
	return 0;
}

void vgpu_kms_fini(struct vgpu_device *v)
{
	unsigned int i;

	for (i = 0; i < v->num_pipes; i++)
		hrtimer_cancel(&v->pipes[i].poll);
}
