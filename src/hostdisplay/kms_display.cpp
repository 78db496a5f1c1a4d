// KmsDisplay: opening a card or adopting a lease fd, the atomic commit, page-flip events
// (docs/direct-flip.md, The KMS backend).
#include "hostdisplay/kms_display.h"

#include <fcntl.h>
#include <poll.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <functional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "hostdisplay/kms_device.h"

namespace vgd::hostdisplay {

// kms_parse.cpp and kms_request.cpp read and write these uapi layouts without the header.
static_assert(sizeof(drm_format_modifier_blob) == 24 && sizeof(drm_format_modifier) == 24);
static_assert(offsetof(drm_format_modifier_blob, modifiers_offset) == 20 && offsetof(drm_format_modifier, modifier) == 16);
static_assert(kms::kDrmPageFlipEvent == DRM_MODE_PAGE_FLIP_EVENT && kms::kDrmPageFlipAsync == DRM_MODE_PAGE_FLIP_ASYNC &&
              kms::kDrmTestOnly == DRM_MODE_ATOMIC_TEST_ONLY && kms::kDrmNonblock == DRM_MODE_ATOMIC_NONBLOCK &&
              kms::kDrmAllowModeset == DRM_MODE_ATOMIC_ALLOW_MODESET);

namespace kms {

std::unique_ptr<PropertyBlob> PropertyBlob::create(std::shared_ptr<Device> dev, const void* data, size_t size, int* err) {
  uint32_t id = 0;
  if (const int r = drmModeCreatePropertyBlob(dev->fd.get(), data, size, &id); r != 0) {
    *err = -r;
    return nullptr;
  }
  return std::unique_ptr<PropertyBlob>(new PropertyBlob(std::move(dev), id));
}

PropertyBlob::~PropertyBlob() { drmModeDestroyPropertyBlob(dev_->fd.get(), id_); }

}  // namespace kms

namespace {

// Atomic and universal planes on this fd (a client cap is per open file, so a lease fd needs
// them too); refused, saying why, where the driver has no atomic modesetting.
Expected<bool, std::string> set_caps(int fd, const std::string& name) {
  constexpr uint64_t kClientCapCursorPlaneHotspot = 6;  // Linux 6.8's uapi; Debian 12's libdrm predates it
  if (drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1) != 0)
    return Unexpected(fmt::format("{}: no universal planes ({})", name, std::strerror(errno)));
  if (drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1) != 0)
    return Unexpected(fmt::format("{}: the driver has no atomic modesetting ({}); the KMS backend needs it", name,
                                  std::strerror(errno)));
  // Virtualized drivers (virtio-gpu, vmwgfx, qxl) show atomic clients their cursor plane, with
  // HOTSPOT_X/Y, only when the client says it sets hotspots (Linux 6.8); older kernels refuse
  // the cap and show the plane anyway.
  if (drmSetClientCap(fd, kClientCapCursorPlaneHotspot, 1) != 0)
    spdlog::debug("{}: no cursor-hotspot client cap ({})", name, std::strerror(errno));
  return true;
}

}  // namespace

KmsDisplay::KmsDisplay(std::shared_ptr<kms::Device> dev, bool lease) : dev_(std::move(dev)), lease_(lease) {}
KmsDisplay::~KmsDisplay() = default;

Expected<std::unique_ptr<KmsDisplay>, std::string> KmsDisplay::open(const std::string& path) {
  auto dev = std::make_shared<kms::Device>();
  dev->name = std::filesystem::path(path).filename().string();
  dev->fd.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!dev->fd) return Unexpected(fmt::format("{}: {}", path, std::strerror(errno)));
  if (!drmIsKMS(dev->fd.get())) return Unexpected(fmt::format("{}: not a KMS device", path));
  if (!drmIsMaster(dev->fd.get()))
    return Unexpected(fmt::format("{}: not DRM master (another process, e.g. a compositor, is)", path));
  if (auto ok = set_caps(dev->fd.get(), dev->name); !ok) return Unexpected(ok.error());
  std::unique_ptr<KmsDisplay> d(new KmsDisplay(std::move(dev), false));
  if (auto ok = d->enumerate(); !ok) return Unexpected(ok.error());
  return d;
}

Expected<std::unique_ptr<KmsDisplay>, std::string> KmsDisplay::adopt(UniqueFd lease_fd, std::string name) {
  if (!lease_fd) return Unexpected(std::string("no lease fd"));
  auto dev = std::make_shared<kms::Device>();
  dev->name = std::move(name);
  dev->fd = std::move(lease_fd);
  if (!drmIsKMS(dev->fd.get())) return Unexpected(fmt::format("{}: the fd is not a KMS device", dev->name));
  if (auto ok = set_caps(dev->fd.get(), dev->name); !ok) return Unexpected(ok.error());
  std::unique_ptr<KmsDisplay> d(new KmsDisplay(std::move(dev), true));
  if (auto ok = d->enumerate(); !ok) return Unexpected(ok.error());
  return d;
}

std::string KmsDisplay::name() const { return dev_->name; }

int KmsDisplay::event_fd() const { return dev_->fd.get(); }

Expected<bool, CommitError> KmsDisplay::commit(const State& state, uint32_t flags, uint64_t user_data) {
  const bool test = flags & kTestOnly;
  if (flags & kAllowModeset) ++counters_.with_allow_modeset;
  const auto refuse = [&](int err, std::string what) -> Expected<bool, CommitError> {
    ++counters_.refused;
    spdlog::debug("kms: {}: {} refused: {}", dev_->name, kms::flags_text(flags), what);
    return Unexpected(CommitError{err, std::move(what)});
  };
  if (std::string why = leased_out(state); !why.empty()) return refuse(EACCES, std::move(why));
  // Prepare: new mode blobs, kept only if a real commit succeeds (then they replace the CRTC's
  // old one); after a test or a failure they are destroyed with `fresh`.
  std::map<uint32_t, std::unique_ptr<kms::PropertyBlob>> fresh;
  std::map<uint32_t, uint32_t> blob_ids;
  for (const CrtcState& c : state.crtcs) {
    if (!c.mode) continue;
    if (c.mode->blob.size() != sizeof(drmModeModeInfo))
      return refuse(EINVAL, fmt::format("CRTC {}: mode {} has no KMS timing", c.crtc_id, c.mode->name));
    int err = 0;
    auto blob = kms::PropertyBlob::create(dev_, c.mode->blob.data(), c.mode->blob.size(), &err);
    if (!blob) return refuse(err, fmt::format("CRTC {}: mode blob: {}", c.crtc_id, std::strerror(err)));
    blob_ids[c.crtc_id] = blob->id();
    fresh[c.crtc_id] = std::move(blob);
  }
  auto sets = kms::build_request(state, props_, blob_ids);
  if (!sets) return refuse(EINVAL, sets.error());

  std::unique_ptr<drmModeAtomicReq, void (*)(drmModeAtomicReqPtr)> req(drmModeAtomicAlloc(), drmModeAtomicFree);
  if (!req) return refuse(ENOMEM, "drmModeAtomicAlloc failed");
  for (const kms::PropertySet& s : *sets)
    if (drmModeAtomicAddProperty(req.get(), s.object_id, s.property_id, s.value) < 0)
      return refuse(ENOMEM, "drmModeAtomicAddProperty failed");
  const uint32_t drm_flags = kms::drm_commit_flags(flags);
  const int r = drmModeAtomicCommit(dev_->fd.get(), req.get(), drm_flags,
                                    reinterpret_cast<void*>(static_cast<uintptr_t>(user_data)));
  if (r != 0) {  // libdrm answers -errno
    const int err = r < 0 ? -r : EIO;
    return refuse(err, fmt::format("atomic commit: {}", std::strerror(err)));
  }

  if (test) {
    ++counters_.tests;
  } else {
    ++counters_.commits;
    if (flags & kAsync) ++counters_.async;
    for (auto& [crtc, blob] : fresh) mode_blobs_[crtc] = std::move(blob);  // the old ones go
  }
  spdlog::debug("kms: {}: {} {} ({} properties)", dev_->name, test ? "tested" : "committed", kms::flags_text(flags),
                sets->size());
  return true;
}

namespace {

struct DispatchContext {
  const EventHandlers* handlers;
  std::function<void(const VblankEvent&)> vblank;  // KmsDisplay::vblank_arrived
  uint64_t delivered = 0;
};
thread_local DispatchContext* g_dispatch = nullptr;  // drmHandleEvent's handlers have no closure

void on_page_flip(int, unsigned sequence, unsigned sec, unsigned usec, unsigned crtc_id, void* user_data) {
  if (!g_dispatch) return;
  FlipEvent ev;
  ev.crtc_id = crtc_id;
  ev.sequence = sequence;
  ev.timestamp = std::chrono::seconds(sec) + std::chrono::microseconds(usec);
  ev.user_data = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(user_data));
  ++g_dispatch->delivered;
  if (g_dispatch->handlers->on_flip) g_dispatch->handlers->on_flip(ev);
}

// Vblank events carry the CRTC id as their user data (kms_vblank.cpp).
void on_sequence(int, uint64_t sequence, uint64_t ns, uint64_t crtc_id) {
  if (g_dispatch)
    g_dispatch->vblank(VblankEvent{static_cast<uint32_t>(crtc_id), sequence, std::chrono::nanoseconds(ns)});
}

void on_wait_vblank(int, unsigned sequence, unsigned sec, unsigned usec, void* crtc_id) {
  if (g_dispatch)
    g_dispatch->vblank(VblankEvent{static_cast<uint32_t>(reinterpret_cast<uintptr_t>(crtc_id)), sequence,
                                   std::chrono::seconds(sec) + std::chrono::microseconds(usec)});
}

}  // namespace

void KmsDisplay::dispatch(const EventHandlers& handlers) {
  // drmHandleEvent reads, and a read with nothing pending would block.
  pollfd p{dev_->fd.get(), POLLIN, 0};
  if (::poll(&p, 1, 0) != 1) return;
  drmEventContext ctx{};
  ctx.version = 4;
  ctx.page_flip_handler2 = on_page_flip;
  ctx.sequence_handler = on_sequence;
  ctx.vblank_handler = on_wait_vblank;
  DispatchContext dc{&handlers, [&](const VblankEvent& e) { vblank_arrived(e, handlers); }};
  g_dispatch = &dc;
  if (drmHandleEvent(dev_->fd.get(), &ctx) != 0)
    spdlog::warn("kms: {}: reading events: {}", dev_->name, std::strerror(errno));
  g_dispatch = nullptr;
  counters_.events += dc.delivered;
}

}  // namespace vgd::hostdisplay
