// A host display in memory for tests of code above the HostDisplay interface: buffers are byte
// vectors (rows padded to 64 bytes, as dumb buffers often are, so code that assumes pitch =
// width · cpp shows), imports are refused, commits are recorded and latch only when the test
// says so (latch()), or at once when async, which queues the page-flip event dispatch() delivers.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "fb/convert.h"
#include "hostdisplay/host_display.h"
#include "util/address.h"

namespace vgd::testing {

class FakeBuffer : public hostdisplay::Buffer {
 public:
  FakeBuffer(hostdisplay::BufferLayout l, uint32_t fb_id, size_t bytes) : Buffer(l, fb_id), bytes_(bytes) {}
  std::span<std::byte> pixels() override { return bytes_; }
  std::span<const std::byte> bytes() const override { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

class FakeHostDisplay : public hostdisplay::HostDisplay {
 public:
  struct Commit {
    hostdisplay::State state;
    uint32_t flags = 0;
    uint64_t user_data = 0;
  };

  FakeHostDisplay() : efd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~FakeHostDisplay() override { ::close(efd_); }

  std::string name() const override { return "fake"; }
  const hostdisplay::Resources& resources() const override { return res_; }
  hostdisplay::Resources& mutable_resources() { return res_; }
  Expected<bool, std::string> refresh() override { return false; }

  Expected<hostdisplay::BufferRef, std::string> create_buffer(uint32_t w, uint32_t h, uint32_t fourcc) override {
    if (fail_creates_ > 0) {
      --fail_creates_;
      return Unexpected(std::string("out of video memory"));
    }
    const uint32_t cpp = fb::format_cpp(fourcc);
    if (cpp == 0 || w == 0 || h == 0) return Unexpected(std::string("bad dumb buffer"));
    hostdisplay::BufferLayout l;
    l.width = w;
    l.height = h;
    l.format = {fourcc, 0};
    l.pitch[0] = static_cast<uint32_t>(align_up(uint64_t{w} * cpp, 64));
    ++created_;
    return hostdisplay::BufferRef(std::make_shared<FakeBuffer>(l, next_fb_++, size_t{l.pitch[0]} * h));
  }
  Expected<hostdisplay::BufferRef, std::string> import(int, const hostdisplay::BufferLayout&) override {
    return Unexpected(std::string("the fake display imports nothing"));
  }

  Expected<bool, hostdisplay::CommitError> commit(const hostdisplay::State& s, uint32_t flags, uint64_t ud) override {
    commits_.push_back({s, flags, ud});
    if (flags & hostdisplay::kTestOnly) return true;
    pending_.push_back(commits_.back());
    if (flags & hostdisplay::kAsync)  // at once, after whatever was queued before it
      while (!pending_.empty()) latch();
    return true;
  }
  // The oldest pending commit reaches the screen: its page-flip event becomes dispatchable.
  void latch() {
    if (pending_.empty()) return;
    latched_.push_back(pending_.front());
    pending_.pop_front();
    const uint64_t one = 1;
    (void)!::write(efd_, &one, sizeof one);
  }
  size_t pending() const { return pending_.size(); }
  int event_fd() const override { return efd_; }
  // Like a device without vblank interrupts (virtio-gpu): the caller keeps its own timer.
  Expected<bool, std::string> watch_vblanks(uint32_t, bool) override {
    return Unexpected(std::string("the fake display has no vblank events"));
  }
  using HostDisplay::dispatch;
  void dispatch(const hostdisplay::EventHandlers& h) override {
    uint64_t n = 0;
    (void)!::read(efd_, &n, sizeof n);
    for (; delivered_ < latched_.size(); ++delivered_) {
      if (!(latched_[delivered_].flags & hostdisplay::kPageFlipEvent)) continue;
      for (uint32_t crtc : touched(latched_[delivered_].state)) {
        const hostdisplay::FlipEvent e{crtc, ++sequence_, {}, latched_[delivered_].user_data};
        if (h.on_flip) h.on_flip(e);
      }
    }
  }
  hostdisplay::CommitCounters counters() const override { return {}; }

  const std::vector<Commit>& commits() const { return commits_; }
  void fail_next_creates(int n) { fail_creates_ = n; }
  int created() const { return created_; }

 private:
  // The CRTCs a state names, and those of the planes it puts on one (one event each, as KMS).
  static std::vector<uint32_t> touched(const hostdisplay::State& s) {
    std::vector<uint32_t> out;
    auto add = [&out](uint32_t id) {
      if (id && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    };
    for (const auto& c : s.crtcs) add(c.crtc_id);
    for (const auto& p : s.planes) add(p.crtc_id);
    return out;
  }

  hostdisplay::Resources res_;
  int efd_;
  uint32_t next_fb_ = 100;
  int fail_creates_ = 0, created_ = 0;
  uint64_t sequence_ = 0;
  size_t delivered_ = 0;
  std::vector<Commit> commits_;
  std::deque<Commit> pending_;
  std::vector<Commit> latched_;
};

}  // namespace vgd::testing
