// Direct flip on the control protocol (docs/protocol.md §3.10): the host display's outputs, and
// vGPU pipes put on them for as long as the client that asked stays connected.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "server/server.h"

namespace vgd::server {
namespace {

using proto::MsgType;
using proto::Packet;
using proto::Status;

proto::OutputEntry wire_output(const OutputStatus& o) {
  proto::OutputEntry e;
  std::memcpy(e.name, o.name.data(), std::min(sizeof e.name - 1, o.name.size()));
  e.connected = o.connected ? 1 : 0;
  e.width = o.width, e.height = o.height, e.refresh_mhz = o.refresh_mhz;
  e.vgpu = o.vgpu;
  e.pipe = hw::index(o.pipe);
  e.flags = (o.by_config ? proto::kOutputByConfig : 0) | (o.lessee ? proto::kOutputLeased : 0);
  e.lessee = o.lessee;
  return e;
}

Status status_of(LinkRefusal::Why w) {
  switch (w) {
    case LinkRefusal::Why::UnknownOutput:
    case LinkRefusal::Why::NotAssigned: return Status::NoEntry;
    case LinkRefusal::Why::OutputTaken:
    case LinkRefusal::Why::VgpuLinked: return Status::Busy;
    case LinkRefusal::Why::NotSupported: return Status::NotSupported;
    case LinkRefusal::Why::Failed: break;
  }
  return Status::Again;  // the display refused (no free plane, a failed bring-up): try later
}

}  // namespace

std::optional<Packet> Server::outputs_request(const Client& c, const Packet& req) {
  const auto type = static_cast<MsgType>(req.header.type);
  if (type != MsgType::ListOutputs && type != MsgType::AssignOutput && type != MsgType::UnassignOutput &&
      type != MsgType::LeaseOutput)
    return std::nullopt;
  // The host's display is its administrator's (docs/protocol.md §7): who may see and lease its
  // outputs is not a vGPU's business.
  if ((type == MsgType::ListOutputs || type == MsgType::LeaseOutput) && c.peer.pid != self_.pid && !host_admin(c.peer, self_))
    return deny(c, req, "is neither the daemon's user nor root (the host display is theirs)");
  DisplayLinks* links = host_.links();
  if (!links)
    return proto::make_error(req.header, Status::NotSupported,
                             "this vgpud has no host display (direct flip is off: see [host_display] in docs/config.md)");
  if (type == MsgType::ListOutputs) {
    const auto outs = links->outputs();
    Packet r = reply_to(req);
    proto::OutputsReply body;
    body.count = static_cast<uint32_t>(std::min(outs.size(), proto::kMaxOutputs));
    const std::string name = links->name();
    std::memcpy(body.display, name.data(), std::min(sizeof body.display - 1, name.size()));
    r.append(body);
    for (uint32_t i = 0; i < body.count; ++i) r.append(wire_output(outs[i]));
    return r;
  }
  if (type == MsgType::LeaseOutput) return lease_request(c, req, *links);
  uint32_t pipe = 0;
  proto::AssignRequest a;
  proto::UnassignRequest u;
  if (type == MsgType::AssignOutput ? !req.read(a) : !req.read(u))
    return proto::make_error(req.header, Status::Protocol, fmt::format("request {} without its body", req.header.type));
  pipe = type == MsgType::AssignOutput ? a.pipe : u.pipe;
  if (pipe >= hw::kPipeCount) return proto::make_error(req.header, Status::Invalid, fmt::format("pipe {} is not 0 (A), 1 (B) or 2 (C)", pipe));
  HostedVgpu* hv = host_.find(req.header.vgpu);
  if (!hv) return proto::make_error(req.header, Status::NoEntry, fmt::format("no vGPU {}", req.header.vgpu));
  if (access(c, *hv) == Access::Denied) return deny(c, req, "is not admitted");
  const auto p = static_cast<hw::Pipe>(pipe);
  if (type == MsgType::UnassignOutput) {
    auto out = links->unassign(*hv, p);
    if (!out) return proto::make_error(req.header, status_of(out.error().why), out.error().message);
    spdlog::info("client pid {} ({}) took vGPU {} pipe {} off output {}", c.peer.pid, c.name, hv->id(), hw::letter(p), *out);
    return reply_to(req);
  }
  const std::string output(a.output, strnlen(a.output, sizeof a.output));
  if (output.empty()) return proto::make_error(req.header, Status::Invalid, "AssignOutput names no output");
  auto done = links->assign(*hv, p, output, c.id);
  if (!done) return proto::make_error(req.header, status_of(done.error().why), done.error().message);
  spdlog::info("client pid {} ({}) put vGPU {} pipe {} on output {} (until it disconnects)", c.peer.pid, c.name, hv->id(),
               hw::letter(p), output);
  Packet r = reply_to(req);
  r.append(wire_output(*done));
  return r;
}

Packet Server::lease_request(const Client& c, const Packet& req, DisplayLinks& links) {
  proto::LeaseRequest l;
  if (!req.read(l)) return proto::make_error(req.header, Status::Protocol, "LeaseOutput without its body");
  const std::string output(l.output, strnlen(l.output, sizeof l.output));
  if (output.empty()) return proto::make_error(req.header, Status::Invalid, "LeaseOutput names no output");
  auto lease = links.lease(output, c.id);
  if (!lease) return proto::make_error(req.header, status_of(lease.error().why), lease.error().message);
  spdlog::info("client pid {} ({}) holds output {} as lessee {} (until it disconnects)", c.peer.pid, c.name, output,
               lease->lessee);
  Packet r = reply_to(req);
  r.append(proto::LeaseReply{lease->lessee, lease->connector, lease->crtc, static_cast<uint32_t>(lease->planes.size())});
  r.fds.push_back(std::move(lease->fd));
  return r;
}

}  // namespace vgd::server
