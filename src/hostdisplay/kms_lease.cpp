// KmsDisplay's leases (docs/direct-flip.md, Leases): as master, a connector + CRTC + planes go
// to a lessee fd; the lessee drives them like a master of just those objects.
#include <fcntl.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "hostdisplay/kms_device.h"
#include "hostdisplay/kms_display.h"

namespace vgd::hostdisplay {

Expected<KmsDisplay::Lease, CommitError> KmsDisplay::create_lease(uint32_t connector_id, uint32_t crtc_id,
                                                                  std::span<const uint32_t> plane_ids) {
  if (lease_) return Unexpected(CommitError{EOPNOTSUPP, fmt::format("{}: a lessee cannot lease further", name())});
  const auto known = [&](uint32_t id) { return props_.has_object(id); };
  std::vector<uint32_t> objects = {connector_id, crtc_id};
  objects.insert(objects.end(), plane_ids.begin(), plane_ids.end());
  for (uint32_t id : objects)
    if (!known(id)) return Unexpected(CommitError{EINVAL, fmt::format("{}: object {} is not one of this display's", dev_->name, id)});
  uint32_t lessee = 0;
  const int fd = drmModeCreateLease(dev_->fd.get(), objects.data(), static_cast<int>(objects.size()), O_CLOEXEC, &lessee);
  if (fd < 0)
    return Unexpected(CommitError{-fd, fmt::format("{}: lease of {} objects: {}", dev_->name, objects.size(), std::strerror(-fd))});
  for (uint32_t id : objects) leased_[id] = lessee;
  spdlog::info("kms: {}: lessee {} holds connector {}, CRTC {} and {} planes", dev_->name, lessee, connector_id,
               crtc_id, plane_ids.size());
  return Lease{UniqueFd(fd), lessee};
}

Expected<std::vector<uint32_t>, std::string> KmsDisplay::lessees() const {
  std::unique_ptr<drmModeLesseeListRes, void (*)(void*)> list(drmModeListLessees(dev_->fd.get()), drmFree);
  if (!list) return Unexpected(fmt::format("{}: listing lessees: {}", dev_->name, std::strerror(errno)));
  return std::vector<uint32_t>(list->lessees, list->lessees + list->count);
}

Expected<bool, std::string> KmsDisplay::revoke_lease(uint32_t lessee_id) {
  if (const int r = drmModeRevokeLease(dev_->fd.get(), lessee_id); r != 0)
    return Unexpected(fmt::format("{}: revoking lessee {}: {}", dev_->name, lessee_id, std::strerror(r < 0 ? -r : errno)));
  std::erase_if(leased_, [&](const auto& kv) { return kv.second == lessee_id; });
  spdlog::info("kms: {}: lessee {} revoked", dev_->name, lessee_id);
  return true;
}

Expected<std::vector<uint32_t>, std::string> KmsDisplay::leased_objects() const {
  std::unique_ptr<drmModeObjectListRes, void (*)(void*)> list(drmModeGetLease(dev_->fd.get()), drmFree);
  if (!list) return Unexpected(fmt::format("{}: drmModeGetLease: {}", dev_->name, std::strerror(errno)));
  return std::vector<uint32_t>(list->objects, list->objects + list->count);
}

std::string KmsDisplay::leased_out(const State& state) {
  if (leased_.empty()) return {};
  std::vector<uint32_t> touched;
  for (const CrtcState& c : state.crtcs) {
    touched.push_back(c.crtc_id);
    if (c.connector_id) touched.push_back(*c.connector_id);
  }
  for (const PlaneState& p : state.planes) touched.insert(touched.end(), {p.plane_id, p.crtc_id});
  const auto held = [&]() -> const std::pair<const uint32_t, uint32_t>* {
    for (uint32_t id : touched)
      if (const auto it = leased_.find(id); it != leased_.end()) return &*it;
    return nullptr;
  };
  if (!held()) return {};
  if (auto live = lessees()) {
    std::erase_if(leased_, [&](const auto& kv) { return std::find(live->begin(), live->end(), kv.second) == live->end(); });
  }
  const auto* hit = held();
  return hit ? fmt::format("object {} is leased to lessee {}", hit->first, hit->second) : std::string();
}

}  // namespace vgd::hostdisplay
