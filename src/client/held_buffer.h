// Private to libvgd-client: release-on-drop buffers, for vGPUs with tearing control (hold, copy),
// where a daemon reference kept past its frame delays the guest or freezes the picture
// (docs/protocol.md §4). The session hands out a buffer whose last shared_ptr, when it goes,
// unmaps it and sends Release — through a SessionLink the session owns and cuts when it closes,
// so a buffer dropped after Close (or after the session is gone, or a new session opened the
// same vGPU) sends nothing.
#pragma once

#include <cstdint>
#include <memory>

#include "client/error.h"
#include "client/mapped_buffer.h"
#include "client/session.h"

namespace vgd::client::detail {

class Channel;

// What a session shares with the buffers it handed out: the way back to the daemon, and the
// session's counters (so Releases sent by dropped buffers are counted with the rest).
struct SessionLink {
  std::weak_ptr<Channel> ch;  // reset when the session closes: Close returned every reference
  uint32_t vgpu = 0;
  SessionCounters counters;

  // One Release of `id` on this vGPU, when the session is still open; Done otherwise.
  Result<Done> release(uint32_t id);
};

// One mapped buffer and the daemon reference GetBuffer took for it. Handed out as an aliasing
// shared_ptr<const MappedBuffer>, so the caller's last copy going destroys this, which unmaps
// and returns the reference. Must go on the connection's thread (it speaks on its socket).
class HeldBuffer {
 public:
  HeldBuffer(std::shared_ptr<const MappedBuffer> buf, std::weak_ptr<SessionLink> link)
      : buf_(std::move(buf)), link_(std::move(link)) {}
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;
  ~HeldBuffer();

  const MappedBuffer& buffer() const { return *buf_; }
  // The reference went back another way (release(), a stale id replaced): send nothing.
  void detach() { link_.reset(); }

  // The caller's handle: shares ownership of `held`, points at its buffer.
  static std::shared_ptr<const MappedBuffer> share(const std::shared_ptr<HeldBuffer>& held) {
    return {held, held->buf_.get()};
  }

 private:
  std::shared_ptr<const MappedBuffer> buf_;
  std::weak_ptr<SessionLink> link_;
};

}  // namespace vgd::client::detail
