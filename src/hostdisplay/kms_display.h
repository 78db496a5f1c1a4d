// The KMS backend of HostDisplay on libdrm's atomic API (docs/direct-flip.md, The KMS backend):
// a card opened as DRM master, or a DRM lease fd adopted (a master restricted to the leased
// objects: enumeration shows only those). As master it also hands out leases (docs/direct-flip.md,
// Leases). Vblank events come from the kernel's per-CRTC sequence events (docs/direct-flip.md,
// Vblank events). Single-threaded: one owner calls it, and runs dispatch() when event_fd() is
// readable.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hostdisplay/host_display.h"
#include "hostdisplay/kms_request.h"
#include "util/expected.h"
#include "util/unique_fd.h"

namespace vgd::hostdisplay {

namespace kms {
struct Device;
class PropertyBlob;
}  // namespace kms

class KmsDisplay final : public HostDisplay {
 public:
  // Opens a card ("/dev/dri/card0") as master with atomic and universal planes; refused when
  // the device has no atomic modesetting or another process is master.
  static Expected<std::unique_ptr<KmsDisplay>, std::string> open(const std::string& path);
  // Drives a lease fd (from create_lease, here or in another process); `name` says whose.
  static Expected<std::unique_ptr<KmsDisplay>, std::string> adopt(UniqueFd lease_fd, std::string name = "lease");
  ~KmsDisplay() override;

  std::string name() const override;
  const Resources& resources() const override { return res_; }
  Expected<bool, std::string> refresh() override;
  Expected<BufferRef, std::string> create_buffer(uint32_t width, uint32_t height, uint32_t fourcc) override;
  Expected<BufferRef, std::string> import(int fd, const BufferLayout& layout) override;
  Expected<bool, CommitError> commit(const State& state, uint32_t flags, uint64_t user_data = 0) override;
  Expected<bool, std::string> watch_vblanks(uint32_t crtc_id, bool on) override;
  int event_fd() const override;
  using HostDisplay::dispatch;
  void dispatch(const EventHandlers& handlers) override;
  CommitCounters counters() const override { return counters_; }

  // Leases (master only; a lessee is refused with EOPNOTSUPP): HostDisplay's, on the DRM fd.
  Expected<Lease, CommitError> create_lease(uint32_t connector_id, uint32_t crtc_id,
                                            std::span<const uint32_t> plane_ids) override;
  Expected<std::vector<uint32_t>, std::string> lessees() const override;
  Expected<bool, std::string> revoke_lease(uint32_t lessee_id) override;
  // The object ids a lease fd holds (on a lessee: its own).
  Expected<std::vector<uint32_t>, std::string> leased_objects() const;

  bool is_lease() const { return lease_; }

 private:
  KmsDisplay(std::shared_ptr<kms::Device> dev, bool lease);
  Expected<bool, std::string> enumerate();
  // Why `state` touches an object leased out (the kernel lets the owner keep using them: this
  // display does not), or empty. Leases that ended (their lessee closed its fd) are pruned first.
  std::string leased_out(const State& state);
  // Vblank events (kms_vblank.cpp): one kernel event queued per watched CRTC, re-queued for the
  // next vblank as each arrives; errno when the kernel refuses.
  int queue_vblank(uint32_t crtc_id);
  void vblank_arrived(const VblankEvent& e, const EventHandlers& handlers);
  struct VblankWatch {
    bool on = false;
    bool queued = false;  // a kernel event is outstanding (it cannot be cancelled)
  };

  std::shared_ptr<kms::Device> dev_;
  bool lease_;
  Resources res_;
  kms::PropertyTable props_;
  std::map<uint32_t, std::unique_ptr<kms::PropertyBlob>> mode_blobs_;  // per CRTC: its committed MODE_ID
  std::map<uint32_t, uint32_t> leased_;  // object id -> the lessee holding it
  std::map<uint32_t, VblankWatch> vblank_watch_;  // per CRTC id
  CommitCounters counters_;
};

}  // namespace vgd::hostdisplay
