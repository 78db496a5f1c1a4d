// A host display shared by several threads (docs/design.md, "Ownership"): the links of several
// vGPUs commit from those vGPUs' locks, and the event thread dispatches. A HostDisplay wants one
// caller at a time (a DRM fd and the state kept beside it, or the virtual monitor's owner
// thread), so every call goes through this wrapper's lock: a leaf, taken under a vGPU's lock,
// never held while taking another.
#pragma once

#include <memory>
#include <string>

#include "hostdisplay/host_display.h"
#include "util/thread_annotations.h"

namespace vgd::server {

class SerializedDisplay final : public hostdisplay::HostDisplay {
 public:
  explicit SerializedDisplay(hostdisplay::HostDisplay& d) : d_(&d) {}

  std::string name() const override { return d_->name(); }  // constant
  // The reference outlives the lock: its plane lists never change (nobody calls refresh() while
  // links exist); CRTC and output state change in commits, so read them with resources_copy().
  const hostdisplay::Resources& resources() const override {
    const Locked lk(mu_);
    return d_->resources();
  }
  hostdisplay::Resources resources_copy() const {
    const Locked lk(mu_);
    return d_->resources();
  }
  Expected<bool, std::string> refresh() override {
    const Locked lk(mu_);
    return d_->refresh();
  }
  Expected<hostdisplay::BufferRef, std::string> create_buffer(uint32_t w, uint32_t h, uint32_t fourcc) override {
    const Locked lk(mu_);
    return d_->create_buffer(w, h, fourcc);
  }
  Expected<hostdisplay::BufferRef, std::string> import(int fd, const hostdisplay::BufferLayout& layout) override {
    const Locked lk(mu_);
    return d_->import(fd, layout);
  }
  Expected<bool, hostdisplay::CommitError> commit(const hostdisplay::State& s, uint32_t flags, uint64_t user_data) override {
    const Locked lk(mu_);
    return d_->commit(s, flags, user_data);
  }
  Expected<bool, std::string> watch_vblanks(uint32_t crtc, bool on) override {
    const Locked lk(mu_);
    return d_->watch_vblanks(crtc, on);
  }
  int event_fd() const override { return d_->event_fd(); }  // constant
  using HostDisplay::dispatch;
  // The handlers run under the lock: they must not call the display (collect, then act).
  void dispatch(const hostdisplay::EventHandlers& h) override {
    const Locked lk(mu_);
    d_->dispatch(h);
  }
  hostdisplay::CommitCounters counters() const override {
    const Locked lk(mu_);
    return d_->counters();
  }
  Expected<Lease, hostdisplay::CommitError> create_lease(uint32_t connector, uint32_t crtc,
                                                         std::span<const uint32_t> planes) override {
    const Locked lk(mu_);
    return d_->create_lease(connector, crtc, planes);
  }
  Expected<std::vector<uint32_t>, std::string> lessees() const override {
    const Locked lk(mu_);
    return d_->lessees();
  }
  Expected<bool, std::string> revoke_lease(uint32_t lessee) override {
    const Locked lk(mu_);
    return d_->revoke_lease(lessee);
  }

 private:
  hostdisplay::HostDisplay* d_;
  mutable Mutex mu_;
};

}  // namespace vgd::server
