#include "client/connection.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "client/channel.h"

namespace vgd::client {
namespace {

using proto::MsgType;
using proto::Status;

std::string field_text(const char* s, size_t max) { return std::string(s, ::strnlen(s, max)); }

}  // namespace

std::string status_name(Status code) {
  switch (code) {
    case Status::Ok: return "OK";
    case Status::NoEntry: return "ENOENT";
    case Status::BadFd: return "EBADF";
    case Status::Again: return "EAGAIN";
    case Status::Access: return "EACCES";
    case Status::TooMany: return "EMFILE";
    case Status::Fault: return "EFAULT";
    case Status::Busy: return "EBUSY";
    case Status::Invalid: return "EINVAL";
    case Status::NotSupported: return "EOPNOTSUPP";
    case Status::Protocol: return "EPROTO";
  }
  return fmt::format("errno {}", -static_cast<int32_t>(code));
}

std::string describe(const Error& e) { return fmt::format("{}: {}", status_name(e.code), e.message); }

std::string_view tearing_name(proto::Tearing t) {
  switch (t) {
    case proto::Tearing::None: return "none";
    case proto::Tearing::Hold: return "hold";
    case proto::Tearing::Copy: return "copy";
  }
  return "unknown";
}

Result<Connection> Connection::connect(const std::string& path, std::string_view client_name, ConnectOptions opts) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return Unexpected(Error{Status::Invalid, fmt::format("socket path '{}' is empty or longer than {} bytes", path,
                                                         sizeof addr.sun_path - 1)});
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock) return Unexpected(Error{static_cast<Status>(-errno), fmt::format("socket: {}", std::strerror(errno))});
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    const bool absent = err == ENOENT || err == ECONNREFUSED;
    return Unexpected(Error{static_cast<Status>(-err), fmt::format("cannot connect to {}: {}{}", path, std::strerror(err),
                                                                   absent ? " (is vgpud running?)" : "")});
  }
  return adopt(std::move(sock), client_name, opts);
}

Result<Connection> Connection::adopt(UniqueFd sock, std::string_view client_name, ConnectOptions opts) {
  auto ch = std::make_shared<detail::Channel>(std::move(sock), opts.reply_timeout);
  proto::HelloRequest hello;
  const size_t n = std::min(client_name.size(), sizeof hello.client_name - 1);
  std::memcpy(hello.client_name, client_name.data(), n);
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::Hello), 0, 0);
  p.append(hello);
  auto r = ch->request(std::move(p));
  if (!r) return Unexpected(Error{r.error().code, fmt::format("hello: {}", r.error().message)});
  proto::HelloReply reply;
  if (!r->read(reply)) return Unexpected(Error{Status::Protocol, "hello: reply is too short"});
  if (reply.server_version != proto::kVersion)
    return Unexpected(Error{Status::Protocol, fmt::format("hello: the daemon speaks protocol {}, this client {}",
                                                          reply.server_version, proto::kVersion)});
  ch->set_features(reply.features);
  return Connection(std::move(ch), ServerInfo{reply.server_version, reply.max_packet, reply.vgpus, reply.features});
}

Result<std::vector<VgpuInfo>> Connection::list() {
  auto r = ch_->request(proto::make_packet(static_cast<uint16_t>(MsgType::List), 0, 0));
  if (!r) return Unexpected(r.error());
  proto::ListReply head;
  if (!r->read(head) || head.count > proto::kMaxListEntries ||
      r->body.size() < sizeof head + size_t{head.count} * sizeof(proto::VgpuEntry))
    return Unexpected(Error{Status::Protocol, "List reply is shorter than its count says"});
  std::vector<VgpuInfo> out;
  for (uint32_t i = 0; i < head.count; ++i) {
    proto::VgpuEntry e;
    (void)r->read(e, sizeof head + size_t{i} * sizeof e);
    out.push_back({e.id, static_cast<proto::VgpuState>(e.state), e.width, e.height, e.refresh_mhz,
                   static_cast<proto::Tearing>(e.tearing), field_text(e.type, sizeof e.type),
                   field_text(e.workload, sizeof e.workload)});
  }
  return out;
}

Result<VgpuSession> Connection::open(uint32_t id, SessionOptions opts) {
  if (ch_->open_vgpus().contains(id))
    return Unexpected(Error{Status::Busy, fmt::format("vGPU {} is already open on this connection", id)});
  // Its tearing control (fixed for the vGPU's life). An id missing from the list is left for
  // Open to refuse with the daemon's words.
  auto vgpus = list();
  if (!vgpus) return Unexpected(vgpus.error());
  const auto it = std::find_if(vgpus->begin(), vgpus->end(), [id](const VgpuInfo& v) { return v.id == id; });
  const proto::Tearing tearing = it != vgpus->end() ? it->tearing : proto::Tearing::None;
  auto r = ch_->request(proto::make_packet(static_cast<uint16_t>(MsgType::Open), 0, id));
  if (!r) return Unexpected(r.error());
  ch_->open_vgpus().insert(id);
  return VgpuSession(ch_, id, tearing, opts);
}

Result<UniqueFd> Connection::attach_vm(uint32_t id) {
  auto r = ch_->request(proto::make_packet(static_cast<uint16_t>(MsgType::AttachVm), 0, id));
  if (!r) return Unexpected(r.error());
  if (r->fds.size() != 1) return Unexpected(Error{Status::Protocol, "AttachVm reply without its socket"});
  return std::move(r->fds.front());
}

namespace {
OutputInfo output_info(const proto::OutputEntry& e) {
  return {field_text(e.name, sizeof e.name), e.connected != 0, e.width, e.height, e.refresh_mhz, e.vgpu,
          static_cast<char>('A' + std::min(e.pipe, 25u)), (e.flags & proto::kOutputByConfig) != 0,
          (e.flags & proto::kOutputLeased) ? e.lessee : 0};
}
}  // namespace

Result<Outputs> Connection::outputs() {
  auto r = ch_->request(proto::make_packet(static_cast<uint16_t>(MsgType::ListOutputs), 0, 0));
  if (!r) return Unexpected(r.error());
  proto::OutputsReply head;
  if (!r->read(head) || head.count > proto::kMaxOutputs ||
      r->body.size() < sizeof head + size_t{head.count} * sizeof(proto::OutputEntry))
    return Unexpected(Error{Status::Protocol, "ListOutputs reply is shorter than its count says"});
  Outputs out{field_text(head.display, sizeof head.display), {}};
  for (uint32_t i = 0; i < head.count; ++i) {
    proto::OutputEntry e;
    (void)r->read(e, sizeof head + size_t{i} * sizeof e);
    out.outputs.push_back(output_info(e));
  }
  return out;
}

namespace {
Result<bool> copy_output_name(std::string_view output, char (&dst)[32]) {
  if (output.empty() || output.size() >= sizeof dst)
    return Unexpected(Error{Status::Invalid, fmt::format("output name '{}' is empty or longer than 31 bytes", output)});
  std::memcpy(dst, output.data(), output.size());
  return true;
}
}  // namespace

Result<OutputInfo> Connection::assign_output(uint32_t id, std::string_view output, uint32_t pipe) {
  proto::AssignRequest a;
  a.pipe = pipe;
  if (auto ok = copy_output_name(output, a.output); !ok) return Unexpected(ok.error());
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::AssignOutput), 0, id);
  p.append(a);
  auto r = ch_->request(std::move(p));
  if (!r) return Unexpected(r.error());
  proto::OutputEntry e;
  if (!r->read(e)) return Unexpected(Error{Status::Protocol, "AssignOutput reply is too short"});
  return output_info(e);
}

Result<OutputLease> Connection::lease_output(std::string_view output) {
  proto::LeaseRequest l;
  if (auto ok = copy_output_name(output, l.output); !ok) return Unexpected(ok.error());
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::LeaseOutput), 0, 0);
  p.append(l);
  auto r = ch_->request(std::move(p));
  if (!r) return Unexpected(r.error());
  proto::LeaseReply body;
  if (!r->read(body) || r->fds.size() != 1) return Unexpected(Error{Status::Protocol, "LeaseOutput reply without its lease fd"});
  return OutputLease{std::move(r->fds.front()), body.lessee, body.connector, body.crtc, body.planes};
}

Result<bool> Connection::unassign_output(uint32_t id, uint32_t pipe) {
  proto::Packet p = proto::make_packet(static_cast<uint16_t>(MsgType::UnassignOutput), 0, id);
  p.append(proto::UnassignRequest{pipe, 0});
  auto r = ch_->request(std::move(p));
  if (!r) return Unexpected(r.error());
  return true;
}

}  // namespace vgd::client
