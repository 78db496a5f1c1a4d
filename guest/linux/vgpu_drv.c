// SPDX-License-Identifier: GPL-2.0
/*
 * vgpu_drm: binds vgpu-display's vGPU (PCI 1af4:10f0), reads its PVINFO page, balloons every
 * part of graphics memory outside its two slices, and registers a DRM/KMS device with an
 * fbdev console. docs/guest-driver.md describes the driver; docs/hardware.md the device.
 */
#include <drm/drm_aperture.h>
#include <drm/drm_atomic_helper.h>
#include <drm/drm_drv.h>
#include <drm/drm_fb_helper.h>
#include <drm/drm_gem_shmem_helper.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_managed.h>
#include <drm/drm_modeset_helper.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/module.h>
#include <linux/pci.h>

#include "vgpu_drv.h"

static bool damage_hints = true;
module_param(damage_hints, bool, 0444);
MODULE_PARM_DESC(damage_hints, "Tell the device which rectangles changed, when it offers it (default: true)");

/* The size the driver refuses to work below: one framebuffer of the console's mode. */
#define VGPU_MIN_FB_BYTES (1024ull * 768 * 4)

static int vgpu_read_pvinfo(struct vgpu_device *v)
{
	struct device *dev = &v->pdev->dev;
	u64 magic = readq(v->bar0 + PV_MAGIC);
	u16 major, minor;

	if (magic != PV_MAGIC_VALUE) {
		dev_err(dev, "no PVINFO page (magic %#llx): not a vGPU, not binding\n", magic);
		return -ENODEV;
	}
	major = readw(v->bar0 + PV_VERSION_MAJOR);
	minor = readw(v->bar0 + PV_VERSION_MINOR);
	if (major != 1) {
		dev_err(dev, "PVINFO version %u.%u, this driver knows 1.x: not binding\n", major, minor);
		return -ENODEV;
	}
	v->vgt_id = readl(v->bar0 + PV_VGT_ID);
	v->caps = readl(v->bar0 + PV_CAPS);
	v->mappable.base = readl(v->bar0 + PV_MAPPABLE_BASE);
	v->mappable.size = readl(v->bar0 + PV_MAPPABLE_SIZE);
	v->hidden.base = readl(v->bar0 + PV_HIDDEN_BASE);
	v->hidden.size = readl(v->bar0 + PV_HIDDEN_SIZE);
	v->fence_num = readl(v->bar0 + PV_FENCE_NUM);
	v->max_width = readl(v->bar0 + PV_MAX_MODE) & 0xffff;
	v->max_height = readl(v->bar0 + PV_MAX_MODE) >> 16;
	dev_info(dev, "vGPU %u, PVINFO %u.%u, caps %#x: aperture %#llx+%llu MiB, hidden %#llx+%llu MiB, %u fences, modes up to %ux%u\n",
		 v->vgt_id, major, minor, v->caps, v->mappable.base, v->mappable.size >> 20, v->hidden.base,
		 v->hidden.size >> 20, v->fence_num, v->max_width, v->max_height);
	return 0;
}

/* Reserves the holes around the slices, in i915's order (docs/hardware.md, Ballooning). */
static int vgpu_balloon(struct vgpu_device *v)
{
	struct device *dev = &v->pdev->dev;
	u64 ap = v->aperture_size, total = v->ggtt_size;
	u64 map_end = v->mappable.base + v->mappable.size, hid_end = v->hidden.base + v->hidden.size;
	struct vgpu_gm_range holes[4] = {
		[2] = {ap, v->hidden.base > ap ? v->hidden.base - ap : 0},
		[3] = {hid_end, hid_end < total ? total - hid_end : 0},
		[0] = {0, v->mappable.base},
		[1] = {map_end, map_end < ap ? ap - map_end : 0},
	};
	static const int order[4] = {2, 3, 0, 1};
	int i, ret;

	if (map_end > ap || v->hidden.base < ap || hid_end > total) {
		dev_err(dev, "invalid ballooning configuration: slices outside a %llu MiB GGTT with a %llu MiB aperture\n",
			total >> 20, ap >> 20);
		return -EINVAL;
	}
	if (max(v->mappable.size, v->hidden.size) < VGPU_MIN_FB_BYTES) {
		dev_err(dev, "graphics memory slices (%llu KiB, %llu KiB) cannot hold one 1024x768 framebuffer\n",
			v->mappable.size >> 10, v->hidden.size >> 10);
		return -ENOSPC;
	}
	for (i = 0; i < 4; i++) {
		struct drm_mm_node *n = &v->balloon[order[i]];

		if (!holes[order[i]].size)
			continue;
		n->start = holes[order[i]].base;
		n->size = holes[order[i]].size;
		ret = drm_mm_reserve_node(&v->gm, n);
		if (ret) {
			dev_err(dev, "ballooning hole %d failed: %d\n", order[i], ret);
			return ret; /* vgpu_deballoon releases what was reserved */
		}
	}
	return 0;
}

static void vgpu_deballoon(struct vgpu_device *v)
{
	int i;

	for (i = 0; i < 4; i++)
		if (drm_mm_node_allocated(&v->balloon[i]))
			drm_mm_remove_node(&v->balloon[i]);
}

/* The drm_device's last reference is gone: every object has been freed. */
static void vgpu_gm_fini(struct drm_device *drm, void *arg)
{
	struct vgpu_device *v = to_vgpu(drm);

	vgpu_deballoon(v);
	drm_mm_takedown(&v->gm);
}

static void vgpu_enable_hints(struct vgpu_device *v)
{
	v->damage = damage_hints && (v->caps & PV_CAP_DAMAGE);
	if (v->damage)
		vgpu_write(v, PV_DAMAGE_CTL, PV_DAMAGE_ENABLE);
}

static int vgpu_dumb_create(struct drm_file *file, struct drm_device *dev, struct drm_mode_create_dumb *args)
{
	/* A linear plane's stride is counted in 64-byte units. */
	args->pitch = ALIGN(DIV_ROUND_UP(args->width * args->bpp, 8), 64);
	args->size = PAGE_ALIGN((u64)args->pitch * args->height);
	return drm_gem_shmem_dumb_create(file, dev, args);
}

DEFINE_DRM_GEM_FOPS(vgpu_fops);

static const struct drm_driver vgpu_driver = {
	.driver_features = DRIVER_MODESET | DRIVER_GEM | DRIVER_ATOMIC,
	.fops = &vgpu_fops,
	DRM_GEM_SHMEM_DRIVER_OPS,
	.dumb_create = vgpu_dumb_create,
	.gem_create_object = vgpu_gem_create_object,
	.name = DRIVER_NAME,
	.desc = "vgpu-display vGPU",
	.date = "20261207",
	.major = 1,
	.minor = 0,
};

static ssize_t vgpu_traps_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vgpu_device *v = pci_get_drvdata(to_pci_dev(dev));

	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(&v->traps));
}
static DEVICE_ATTR_RO(vgpu_traps);

static ssize_t vgpu_poll_reads_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vgpu_device *v = pci_get_drvdata(to_pci_dev(dev));

	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(&v->poll_reads));
}
static DEVICE_ATTR_RO(vgpu_poll_reads);

static struct attribute *vgpu_attrs[] = {
	&dev_attr_vgpu_traps.attr,
	&dev_attr_vgpu_poll_reads.attr,
	NULL,
};
static const struct attribute_group vgpu_attr_group = { .attrs = vgpu_attrs };

static int vgpu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct vgpu_device *v;
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pcim_iomap_regions(pdev, BIT(0), DRIVER_NAME);
	if (ret)
		return ret;
	v = devm_drm_dev_alloc(&pdev->dev, &vgpu_driver, struct vgpu_device, drm);
	if (IS_ERR(v))
		return PTR_ERR(v);
	v->pdev = pdev;
	v->bar0 = pcim_iomap_table(pdev)[0];
	v->bar0_len = pci_resource_len(pdev, 0);
	pci_set_drvdata(pdev, v);
	if (v->bar0_len <= VGPU_GTT_OFFSET) {
		dev_err(&pdev->dev, "BAR0 of %llu bytes has no GGTT\n", v->bar0_len);
		return -ENODEV;
	}
	/* docs/hardware.md, BAR0: one 8-byte entry per 4 KiB page after the first 8 MiB. */
	v->ggtt_size = (v->bar0_len - VGPU_GTT_OFFSET) / 8 * VGPU_PAGE_SIZE;
	v->aperture_size = pci_resource_len(pdev, 2) ? pci_resource_len(pdev, 2) : VGPU_DEFAULT_APERTURE;
	ret = vgpu_read_pvinfo(v);
	if (ret)
		return ret;
	mutex_init(&v->gm_lock);
	drm_mm_init(&v->gm, 0, v->ggtt_size);
	ret = drmm_add_action(&v->drm, vgpu_gm_fini, NULL);
	if (ret)
		return ret;
	ret = vgpu_balloon(v);
	if (ret)
		return ret;
	ret = vgpu_kms_init(v);
	if (ret)
		return ret;
	if (pdev->irq) {
		ret = request_irq(pdev->irq, vgpu_irq, IRQF_SHARED, DRIVER_NAME, v);
		if (ret)
			dev_warn(&pdev->dev, "no interrupt (%d): polling the frame counter\n", ret);
		else
			v->have_irq = true;
	}
	vgpu_enable_hints(v);
	ret = drm_dev_register(&v->drm, 0);
	if (ret)
		goto err_irq;
	ret = sysfs_create_group(&pdev->dev.kobj, &vgpu_attr_group);
	if (ret)
		goto err_unregister;
	drm_fbdev_generic_setup(&v->drm, 32);
	vgpu_write(v, PV_DISPLAY_READY, 1);
	return 0;

err_unregister:
	drm_dev_unregister(&v->drm);
err_irq:
	if (v->have_irq)
		free_irq(pdev->irq, v);
	vgpu_kms_fini(v);
	return ret;
}

/* Unbinding leaves the device as we found it: pipes off, no GGTT entry, hints off. */
static void vgpu_remove(struct pci_dev *pdev)
{
	struct vgpu_device *v = pci_get_drvdata(pdev);
	struct drm_mm_node *node;

	sysfs_remove_group(&pdev->dev.kobj, &vgpu_attr_group);
	drm_dev_unplug(&v->drm);
	drm_atomic_helper_shutdown(&v->drm);
	if (v->have_irq)
		free_irq(pdev->irq, v);
	vgpu_kms_fini(v);
	/* Objects that userspace still holds are freed later, without the device: scrub now. */
	mutex_lock(&v->gm_lock);
	drm_mm_for_each_node(node, &v->gm)
		if (!vgpu_is_balloon(v, node))
			vgpu_gm_scrub(v, node->start, node->size);
	v->unbound = true;
	mutex_unlock(&v->gm_lock);
	if (v->damage)
		vgpu_write(v, PV_DAMAGE_CTL, 0);
	vgpu_write(v, PV_DISPLAY_READY, 0);
}

/*
 * A function-level reset (sysfs "reset", or the hypervisor's) makes the device forget its GGTT,
 * its registers, damage_ctl and display_ready. Before it: the display is suspended (its state
 * saved) and every object unbound, so the allocator holds the balloon alone and no entry is left
 * for the device to forget. After it: PVINFO is read and ballooned again, and the saved state is
 * committed, which binds what it shows (docs/guest-driver.md, Device reset). Like other DRM
 * drivers this does not fence off userspace between the two: a commit in the window binds anew.
 */
static void vgpu_reset_prepare(struct pci_dev *pdev)
{
	struct vgpu_device *v = pci_get_drvdata(pdev);

	if (!v || v->unbound)
		return;
	drm_mode_config_helper_suspend(&v->drm);
	mutex_lock(&v->gm_lock);
	vgpu_gem_unbind_all(v);
	vgpu_deballoon(v);
	mutex_unlock(&v->gm_lock);
	dev_info(&pdev->dev, "device reset: display suspended, graphics memory released\n");
}

static void vgpu_reset_done(struct pci_dev *pdev)
{
	struct vgpu_device *v = pci_get_drvdata(pdev);
	int ret;

	if (!v || v->unbound)
		return;
	ret = vgpu_read_pvinfo(v);
	if (!ret) {
		mutex_lock(&v->gm_lock);
		ret = vgpu_balloon(v);
		mutex_unlock(&v->gm_lock);
	}
	if (ret) {
		/* The display stays suspended: nothing is bound, nothing is written. */
		dev_err(&pdev->dev, "after the device reset: %d; the display stays off\n", ret);
		return;
	}
	vgpu_enable_hints(v);
	vgpu_write(v, PV_DISPLAY_READY, 1);
	drm_mode_config_helper_resume(&v->drm);
	dev_info(&pdev->dev, "device reset: display restored\n");
}

static const struct pci_error_handlers vgpu_err_handlers = {
	.reset_prepare = vgpu_reset_prepare,
	.reset_done = vgpu_reset_done,
};

static void vgpu_shutdown(struct pci_dev *pdev)
{
	struct vgpu_device *v = pci_get_drvdata(pdev);

	drm_atomic_helper_shutdown(&v->drm);
}

static const struct pci_device_id vgpu_ids[] = {
	{ PCI_DEVICE_SUB(VGPU_PCI_VENDOR, VGPU_PCI_DEVICE, VGPU_PCI_VENDOR, VGPU_PCI_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vgpu_ids);

static struct pci_driver vgpu_pci_driver = {
	.name = DRIVER_NAME,
	.id_table = vgpu_ids,
	.probe = vgpu_probe,
	.remove = vgpu_remove,
	.shutdown = vgpu_shutdown,
	.err_handler = &vgpu_err_handlers,
};

static int __init vgpu_init(void)
{
	if (drm_firmware_drivers_only())
		return -ENODEV;
	return pci_register_driver(&vgpu_pci_driver);
}
module_init(vgpu_init);

static void __exit vgpu_exit(void)
{
	pci_unregister_driver(&vgpu_pci_driver);
}
module_exit(vgpu_exit);

MODULE_DESCRIPTION("DRM/KMS driver for vgpu-display's vGPU");
MODULE_LICENSE("GPL");
