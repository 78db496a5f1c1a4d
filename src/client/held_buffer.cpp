#include "client/held_buffer.h"

#include "client/channel.h"
#include "proto/packet.h"

namespace vgd::client::detail {

Result<Done> SessionLink::release(uint32_t id) {
  const std::shared_ptr<Channel> c = ch.lock();
  if (!c) return Done{};
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(proto::MsgType::Release), 0, vgpu);
  p.append(proto::ReleaseRequest{id});
  ++counters.releases;
  auto r = c->request(std::move(p));
  if (!r) return Unexpected(r.error());
  return Done{};
}

HeldBuffer::~HeldBuffer() {
  const uint32_t id = buf_->id();
  buf_.reset();  // unmapped first: this end reads it no more
  const std::shared_ptr<SessionLink> link = link_.lock();
  if (!link) return;  // the session closed (Close returned the reference) or is gone
  // A destructor reports nothing: a failed Release (a broken connection) surfaces at the
  // session's next request, and an exception here would terminate.
  try {
    (void)link->release(id);
  } catch (...) {
  }
}

}  // namespace vgd::client::detail
