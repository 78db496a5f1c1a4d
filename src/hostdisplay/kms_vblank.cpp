// KmsDisplay's vblank events (docs/direct-flip.md, Vblank events): DRM_IOCTL_CRTC_QUEUE_SEQUENCE
// for the next vblank of a CRTC, queued again as each event arrives, so that every vblank is
// delivered; kernels older than that ioctl get DRM_IOCTL_WAIT_VBLANK with an event instead.
#include <xf86drm.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "hostdisplay/kms_device.h"
#include "hostdisplay/kms_display.h"

namespace vgd::hostdisplay {

int KmsDisplay::queue_vblank(uint32_t crtc_id) {
  // The event's user data is the CRTC: a sequence event does not name it otherwise.
  uint64_t queued = 0;
  if (drmCrtcQueueSequence(dev_->fd.get(), crtc_id, DRM_CRTC_SEQUENCE_RELATIVE | DRM_CRTC_SEQUENCE_NEXT_ON_MISS, 1,
                           &queued, crtc_id) == 0)
    return 0;
  if (errno != ENOTTY) return errno;
  const CrtcInfo* c = res_.crtc(crtc_id);
  if (!c) return ENOENT;
  // WAIT_VBLANK names the CRTC by its index (on a lease, among the leased CRTCs, as res_ does).
  drmVBlank vbl{};
  vbl.request.type = static_cast<drmVBlankSeqType>(DRM_VBLANK_RELATIVE | DRM_VBLANK_EVENT | DRM_VBLANK_NEXTONMISS |
                                                   ((c->index << DRM_VBLANK_HIGH_CRTC_SHIFT) & DRM_VBLANK_HIGH_CRTC_MASK));
  vbl.request.sequence = 1;
  vbl.request.signal = crtc_id;
  return drmWaitVBlank(dev_->fd.get(), &vbl) == 0 ? 0 : errno;
}

Expected<bool, std::string> KmsDisplay::watch_vblanks(uint32_t crtc_id, bool on) {
  if (!res_.crtc(crtc_id)) return Unexpected(fmt::format("{}: watch vblanks: no CRTC {}", dev_->name, crtc_id));
  VblankWatch& w = vblank_watch_[crtc_id];
  if (on && !w.queued) {
    if (const int err = queue_vblank(crtc_id); err != 0) {
      w.on = false;
      const std::string why = err == EOPNOTSUPP ? "the driver has no vblank interrupts"
                              : err == EINVAL   ? "the CRTC is off or the driver has no vblank counter"
                                                : "refused";
      return Unexpected(fmt::format("{}: vblank events on CRTC {}: {} ({}, errno {})", dev_->name, crtc_id, why,
                                    std::strerror(err), err));
    }
    w.queued = true;
  }
  w.on = on;  // off: the event already queued arrives and is dropped
  return true;
}

void KmsDisplay::vblank_arrived(const VblankEvent& e, const EventHandlers& handlers) {
  VblankWatch& w = vblank_watch_[e.crtc_id];
  w.queued = false;
  if (!w.on) return;
  if (const int err = queue_vblank(e.crtc_id); err != 0) {
    // The CRTC went off (its pending events are sent then) or was taken away: the watch ends.
    spdlog::warn("kms: {}: vblank events on CRTC {} end: {}", dev_->name, e.crtc_id, std::strerror(err));
    w.on = false;
  } else {
    w.queued = true;
  }
  if (handlers.on_vblank) handlers.on_vblank(e);
}

}  // namespace vgd::hostdisplay
