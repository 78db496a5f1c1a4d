// SPDX-License-Identifier: GPL-2.0
/*
 * GEM objects: shmem pages of guest RAM. The first time a plane uses an object it is bound: its
 * pages are pinned, it gets a GM range from the ballooned allocator (so the range lies in one of
 * this vGPU's slices) and each page's guest-physical address goes into the GGTT entry of that
 * range (docs/hardware.md, GGTT). It stays bound until the object is freed, so a flip writes one
 * register. Freeing scrubs the entries, so no GGTT entry outlives its pages.
 */
#include <drm/drm_drv.h>
#include <drm/drm_gem.h>
#include <drm/drm_gem_shmem_helper.h>
#include <linux/io-64-nonatomic-lo-hi.h>

#include "vgpu_drv.h"

static void vgpu_write_pte(struct vgpu_device *v, u64 gm_page, u64 pte)
{
	atomic64_inc(&v->traps);
	writeq(pte, v->bar0 + VGPU_GTT_OFFSET + 8 * gm_page);
}

void vgpu_gm_scrub(struct vgpu_device *v, u64 base, u64 size)
{
	u64 i;

	for (i = 0; i < size / VGPU_PAGE_SIZE; i++)
		vgpu_write_pte(v, base / VGPU_PAGE_SIZE + i, 0);
}

static void vgpu_bo_free(struct drm_gem_object *obj)
{
	struct vgpu_bo *bo = to_vgpu_bo(obj);
	struct vgpu_device *v = to_vgpu(obj->dev);

	mutex_lock(&v->gm_lock);
	if (drm_mm_node_allocated(&bo->node)) {
		if (!v->unbound) /* else vgpu_remove scrubbed it */
			vgpu_gm_scrub(v, bo->node.start, bo->node.size);
		drm_mm_remove_node(&bo->node);
		drm_gem_shmem_unpin(&bo->base);
	}
	mutex_unlock(&v->gm_lock);
	drm_gem_shmem_free(&bo->base);
}

static const struct drm_gem_object_funcs vgpu_bo_funcs = {
	.free = vgpu_bo_free,
	.print_info = drm_gem_shmem_object_print_info,
	.pin = drm_gem_shmem_object_pin,
	.unpin = drm_gem_shmem_object_unpin,
	.get_sg_table = drm_gem_shmem_object_get_sg_table,
	.vmap = drm_gem_shmem_object_vmap,
	.vunmap = drm_gem_shmem_object_vunmap,
	.mmap = drm_gem_shmem_object_mmap,
	.vm_ops = &drm_gem_shmem_vm_ops,
};

struct drm_gem_object *vgpu_gem_create_object(struct drm_device *dev, size_t size)
{
	struct vgpu_bo *bo = kzalloc(sizeof(*bo), GFP_KERNEL);

	if (!bo)
		return ERR_PTR(-ENOMEM);
	bo->base.base.funcs = &vgpu_bo_funcs;
	return &bo->base.base;
}

/* Under gm_lock: every bound object gives its GM range back and its pages' pin. */
void vgpu_gem_unbind_all(struct vgpu_device *v)
{
	struct drm_mm_node *node, *next;

	drm_mm_for_each_node_safe(node, next, &v->gm) {
		if (vgpu_is_balloon(v, node))
			continue;
		vgpu_gm_scrub(v, node->start, node->size);
		drm_mm_remove_node(node);
		drm_gem_shmem_unpin(&container_of(node, struct vgpu_bo, node)->base);
	}
}

int vgpu_bo_bind(struct vgpu_device *v, struct vgpu_bo *bo)
{
	struct drm_gem_object *obj = &bo->base.base;
	u64 pages = obj->size / VGPU_PAGE_SIZE, i;
	int ret = 0;

	mutex_lock(&v->gm_lock);
	if (drm_mm_node_allocated(&bo->node))
		goto out;
	ret = drm_gem_shmem_pin(&bo->base);
	if (ret)
		goto out;
	ret = drm_mm_insert_node_generic(&v->gm, &bo->node, obj->size, VGPU_PAGE_SIZE, 0,
					 DRM_MM_INSERT_BEST);
	if (ret) {
		drm_gem_shmem_unpin(&bo->base);
		drm_dbg_kms(&v->drm, "no GM for a %zu KiB object: %d\n", obj->size >> 10, ret);
		goto out;
	}
	for (i = 0; i < pages; i++)
		vgpu_write_pte(v, bo->node.start / VGPU_PAGE_SIZE + i,
			       (page_to_phys(bo->base.pages[i]) & VGPU_PTE_ADDR_MASK) | VGPU_PTE_PRESENT);
out:
	mutex_unlock(&v->gm_lock);
	return ret;
}

u64 vgpu_bo_gm(struct vgpu_bo *bo)
{
	return bo->node.start;
}
