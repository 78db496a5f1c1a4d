#include "server/server.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "decode/decoder.h"
#include "util/fd_passing.h"

namespace vgd::server {
namespace {

using proto::MsgType;
using proto::Packet;
using proto::Status;

// Tags for the epoll set; clients are tagged with their fd (>= 0).
constexpr uint64_t kListenTag = ~0ull, kSignalTag = ~2ull, kStopTag = ~3ull, kHelloTag = ~4ull;

Status status_of(exporter::Errc e) {
  switch (e) {
    case exporter::Errc::InvalidArgument: return Status::Invalid;
    case exporter::Errc::NotSupported: return Status::NotSupported;
    case exporter::Errc::Fault: return Status::Fault;
    case exporter::Errc::NoSuchBuffer: return Status::NoEntry;
    case exporter::Errc::TooMany: return Status::TooMany;
    case exporter::Errc::Io: break;
  }
  return Status::Again;
}

bool watch(int epoll, int fd, uint64_t tag) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag;
  return ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) == 0;
}

std::string errno_text(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

// Reads and drops what a client sent after the request that ends its connection (a pipelining
// client, docs/protocol.md §1), closing any descriptors: a socket closed with packets unread
// resets the connection, and the client's next receive would say ECONNRESET before the replies
// queued for it, the EPROTO among them. Bounded: a client that keeps sending is cut off anyway.
void drain(int fd) {
  std::byte scrap[64];
  for (int i = 0; i < 4096; ++i) {
    std::vector<UniqueFd> fds;
    const Received r = recv_with_fds(fd, scrap, MSG_DONTWAIT, kMaxPassedFds, fds);
    if (r.n < 0) return;  // nothing left (EAGAIN), or the client went
    if (r.n == 0) {       // an empty packet, or the client's end
      pollfd p{fd, POLLRDHUP, 0};
      if (::poll(&p, 1, 0) != 0) return;
    }
  }
}

// After a failed send: the peer is still there (its queue was full), not gone.
bool still_connected(int fd) {
  pollfd p{fd, POLLOUT, 0};
  return ::poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR));
}

// The socket's owner and its group (e.g. the viewer's) may connect (docs/protocol.md §1).
constexpr mode_t kSocketMode = 0660;

// What is at the socket's path before binding: nothing; a socket file nobody answers on (a
// leftover of a daemon that died), which is replaced; a daemon answering, or anything but a
// socket (the user's file, a directory, a link), which is an error and stays as it is.
Expected<bool, std::string> replace_leftover(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    return Unexpected(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) return Unexpected(fmt::format("{} exists and is not a socket: not replacing it", path));
  UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
    return Unexpected(fmt::format("another vgpud already serves {}", path));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return Unexpected(fmt::format("removing the leftover socket {}: {}", path, std::strerror(errno)));
  return true;
}

// Who is at the other end, as the kernel recorded it at connect: SO_PEERCRED, and the
// supplementary groups (SO_PEERGROUPS, Linux 4.13; ERANGE says how much room they need).
Expected<Peer, std::string> peer_of(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return Unexpected(errno_text("SO_PEERCRED"));
  Peer p{cred.pid, static_cast<uint32_t>(cred.uid), static_cast<uint32_t>(cred.gid), {}};
  std::vector<gid_t> groups(32);
  for (;;) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      break;
    }
    if (errno == ERANGE && bytes > groups.size() * sizeof(gid_t)) {
      groups.resize(bytes / sizeof(gid_t));
      continue;
    }
    // An older kernel: the primary group only, which admits no one the groups would not.
    if (errno == ENOPROTOOPT) return p;
    return Unexpected(errno_text("SO_PEERGROUPS"));
  }
  p.groups.assign(groups.begin(), groups.end());
  return p;
}

}  // namespace

Expected<std::unique_ptr<Server>, std::string> Server::create(Host& host, ServerOptions opt) {
  std::unique_ptr<Server> s(new Server(host, std::move(opt)));
  if (auto ok = s->setup(); !ok) return Unexpected(ok.error());
  return s;
}

Expected<bool, std::string> Server::setup() {
  const std::string& path = opt_.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return Unexpected(fmt::format("socket path '{}' is empty or too long", path));
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  listen_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_) return Unexpected(errno_text("socket"));
  if (auto ok = replace_leftover(path, addr); !ok) return ok;
  // Linux gives a UNIX socket's file the mode of the socket's own inode, less the umask, at bind:
  // set it first, so the file never exists with a wider mode, whatever the umask.
  if (::fchmod(listen_.get(), kSocketMode) != 0) return Unexpected(errno_text("fchmod of the socket"));
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Unexpected(fmt::format("bind {}: {}", path, std::strerror(errno)));
  // Exactly 0660 now: a umask may have taken the group's bits, which its viewers need.
  if (::chmod(path.c_str(), kSocketMode) != 0)
    return Unexpected(fmt::format("chmod {} to {:o}: {}", path, kSocketMode, std::strerror(errno)));
  // The group whose members may reach the socket at all (what they may do: admission.h).
  if (opt_.socket_group && ::lchown(path.c_str(), static_cast<uid_t>(-1), *opt_.socket_group) != 0)
    return Unexpected(fmt::format("chown {} to group {}: {}", path, *opt_.socket_group, std::strerror(errno)));
  struct stat bound {};
  if (::lstat(path.c_str(), &bound) == 0) socket_inode_ = bound.st_ino;
  if (::listen(listen_.get(), 64) != 0) return Unexpected(errno_text("listen"));

  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  stop_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epoll_ || !stop_) return Unexpected(errno_text("epoll/eventfd"));
  bool ok = watch(epoll_.get(), listen_.get(), kListenTag) && watch(epoll_.get(), stop_.get(), kStopTag);
  if (opt_.hello_timeout_ms != 0) {  // the Hello deadline (server_hello.cpp)
    hello_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    ok = ok && hello_timer_ && watch(epoll_.get(), hello_timer_.get(), kHelloTag);
  }
  if (opt_.handle_signals) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);  // held guests go on (hold_frame, docs/config.md)
    // Blocked here, before the guest threads start, so they inherit it and the signalfd gets all.
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    ok = ok && signal_ && watch(epoll_.get(), signal_.get(), kSignalTag);
  }
  ::signal(SIGPIPE, SIG_IGN);  // a vanished client is an error on send, not a dead daemon
  if (!ok) return Unexpected(errno_text("epoll_ctl"));
  spdlog::info("serving on {}", path);
  return true;
}

Server::~Server() {
  while (!clients_.empty()) drop(clients_.begin()->first);
  // Only our own socket file: another daemon may have taken the path since.
  struct stat st {};
  if (listen_ && ::lstat(opt_.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == socket_inode_)
    ::unlink(opt_.socket_path.c_str());
}

void Server::request_stop() {
  const uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
}

ServerStats Server::stats() const {
  const Locked lk(stats_mu_);
  return stats_;
}

int Server::run() {
  for (;;) {
    switch (serve_pending(-1)) {
      case Turn::Idle:
      case Turn::Served: break;
      case Turn::Stopped: return 0;
      case Turn::Failed: return 1;
    }
  }
}

Server::Turn Server::serve_pending(int timeout_ms) {
  epoll_event evs[32];
  const int n = ::epoll_wait(epoll_.get(), evs, 32, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return Turn::Idle;
    spdlog::critical("epoll_wait: {}", std::strerror(errno));
    return Turn::Failed;
  }
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = evs[i].data.u64;
    if (tag == kStopTag || tag == kSignalTag) {
      if (tag == kSignalTag) {
        signalfd_siginfo si{};
        (void)!::read(signal_.get(), &si, sizeof si);
        if (si.ssi_signo == SIGUSR1) {
          for (const auto& hv : host_.vgpus())
            if (hv->builtin()) hv->session().hold_further();
          spdlog::info("SIGUSR1: guests that hold still (hold_frame) go on for as many frames again");
          continue;
        }
        spdlog::info("{}: shutting down", strsignal(static_cast<int>(si.ssi_signo)));
      }
      return Turn::Stopped;
    }
    if (tag == kListenTag) {
      accept_clients();
    } else if (tag == kHelloTag) {
      hello_timer_fired();
    } else {
      const int fd = static_cast<int>(tag);
      auto it = clients_.find(fd);
      if (it == clients_.end()) continue;
      if (!serve(*it->second)) drop(fd);
    }
  }
  return n > 0 ? Turn::Served : Turn::Idle;
}

void Server::accept_clients() {
  for (;;) {
    UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    auto c = std::make_unique<Client>();
    auto peer = peer_of(fd.get());
    const Locked lk(stats_mu_);
    if (!peer) {  // unknown peers are admitted nowhere: better not at all
      ++stats_.refused_connections;
      spdlog::warn("client refused: {}", peer.error());
      continue;
    }
    c->peer = std::move(*peer);
    if (refuse(c->peer)) continue;  // logged and counted (server_hello.cpp)
    if (!watch(epoll_.get(), fd.get(), static_cast<uint64_t>(fd.get()))) continue;
    ++stats_.connections;
    spdlog::info("client connected: pid {} uid {} gid {} ({} more groups)", c->peer.pid, c->peer.uid, c->peer.gid,
                 c->peer.groups.size());
    c->fd = std::move(fd);
    c->id = next_client_id_++;
    expect_hello(*c);
    const int key = c->fd.get();
    clients_[key] = std::move(c);
  }
}

bool Server::serve(Client& c) {
  for (int turn = 0; turn < kRequestsPerTurn; ++turn) {
    Packet req;
    std::string why;
    switch (proto::recv_packet(c.fd.get(), req, why)) {
      case proto::RecvResult::WouldBlock: return true;
      case proto::RecvResult::Closed: return false;
      case proto::RecvResult::Failed:
        spdlog::warn("client pid {}: {}", c.peer.pid, why);
        return false;
      case proto::RecvResult::Malformed: {
        const Locked lk(stats_mu_);
        ++stats_.malformed;
        spdlog::warn("client pid {} ({}): malformed message ({}), closing it", c.peer.pid, c.name, why);
        (void)proto::send_packet(c.fd.get(), proto::make_error(req.header, Status::Protocol, why));
        return false;
      }
      case proto::RecvResult::Ok: break;
    }
    Packet reply = handle(c, req);
    const bool error = reply.header.type == proto::kError;
    const bool fatal = error && proto::error_code(reply) == Status::Protocol;
    {
      const Locked lk(stats_mu_);
      ++stats_.requests;
      stats_.errors += error;
      stats_.malformed += fatal;
    }
    if (error) spdlog::info("client pid {} ({}): request {} refused: {}", c.peer.pid, c.name, req.header.type, proto::error_text(reply));
    // A client that does not read its replies fills its queue: it is the one to go (the socket
    // is non-blocking: the daemon never waits for a client).
    if (auto sent = proto::send_packet(c.fd.get(), reply); !sent) {
      if (still_connected(c.fd.get())) {
        const Locked lk(stats_mu_);
        ++stats_.unread;
      }
      spdlog::warn("client pid {} ({}): {}, closing it", c.peer.pid, c.name, sent.error());
      return false;
    }
    c.fds_sent += static_cast<uint32_t>(reply.fds.size());
    if (fatal) return false;
  }
  return true;  // more may be queued: level-triggered epoll reports the client again
}

Packet Server::handle(Client& c, Packet& req) {
  const auto type = static_cast<MsgType>(req.header.type);
  if (!c.greeted) {
    proto::HelloRequest hello;
    if (type != MsgType::Hello) return proto::make_error(req.header, Status::Protocol, "the first message must be Hello");
    if (!req.read(hello)) return proto::make_error(req.header, Status::Protocol, "Hello shorter than its 40 bytes");
    if (!req.fds.empty()) return proto::make_error(req.header, Status::Protocol, "Hello takes no descriptors");
    // client_version is the newest version the client speaks; it speaks ours too, since its
    // header says so (docs/protocol.md §3.1). 0 is no version at all.
    if (hello.client_version == 0) return proto::make_error(req.header, Status::Protocol, "client protocol version 0 does not exist");
    c.greeted = true;
    hello_done(c);
    c.name.assign(hello.client_name, strnlen(hello.client_name, sizeof hello.client_name));
    spdlog::info("client pid {} is '{}' (protocol {})", c.peer.pid, c.name, hello.client_version);
    Packet r = reply_to(req);
    proto::HelloReply body;
    body.vgpus = static_cast<uint32_t>(std::count_if(host_.vgpus().begin(), host_.vgpus().end(),
                                                     [&](const auto& hv) { return access(c, *hv) != Access::Denied; }));
    body.features = proto::kFeatureDamage | (host_.links() ? proto::kFeatureDirectFlip | proto::kFeatureLease : 0);
    r.append(body);
    return r;
  }
  // Before the vGPU is looked at: an unknown type is a protocol error whatever the vGPU's state.
  if (!proto::known_request(req.header.type))
    return proto::make_error(req.header, Status::Protocol, fmt::format("unknown message type {}", req.header.type));
  // Only SetEventfd takes a descriptor: any other arrived for nothing. Refused (and closed, with
  // the packet) before the vGPU is looked at, so the client learns it whatever the vGPU's state.
  if (!req.fds.empty() && type != MsgType::SetEventfd && type != MsgType::Hello)
    return proto::make_error(req.header, Status::Invalid,
                             fmt::format("request {} takes no descriptors ({} sent, closed)", req.header.type, req.fds.size()));
  switch (type) {
    case MsgType::Hello: return proto::make_error(req.header, Status::Protocol, "Hello was already sent");
    case MsgType::List: return list(c, req);
    default: break;
  }
  if (auto r = outputs_request(c, req)) return std::move(*r);
  HostedVgpu* hv = host_.find(req.header.vgpu);
  if (!hv) return proto::make_error(req.header, Status::NoEntry, fmt::format("no vGPU {}", req.header.vgpu));
  const Access may = access(c, *hv);
  if (may == Access::Denied) return deny(c, req, "is not admitted");
  if (type == MsgType::AttachVm) {  // for the tool that starts the VM: no Open needed, but trust
    // The daemon's user and root may ptrace the daemon and read the VM's RAM anyway: `vgpuctl
    // qemu` run by the host's administrator works without trusted lists (docs/protocol.md §3.8).
    if (may != Access::Trusted && !host_admin(c.peer, self_))
      return deny(c, req, "is not trusted (AttachVm hands over the guest's memory)");
    auto sock = hv->attach_vm();
    if (!sock) return proto::make_error(req.header, sock.error().status, sock.error().message);
    spdlog::info("client pid {} ('{}') attaches a VM to vGPU {}", c.peer.pid, c.name, hv->id());
    Packet r = reply_to(req);
    r.fds.push_back(std::move(*sock));
    return r;
  }
  auto it = c.opened.find(req.header.vgpu);
  if (type == MsgType::Open) {
    if (it == c.opened.end()) {
      const Trust trust = may == Access::Trusted ? Trust::Trusted : Trust::Untrusted;
      auto consumer = hv->port().open(trust);
      if (!consumer) return proto::make_error(req.header, Status::Again, consumer.error());
      c.opened[req.header.vgpu] = *consumer;
      spdlog::info("client pid {} ({}) uid {} opened vGPU {}: {}", c.peer.pid, c.name, c.peer.uid, hv->id(), name(may));
      const Locked lk(stats_mu_);
      stats_.trusted_opens += trust == Trust::Trusted;
      stats_.untrusted_opens += trust == Trust::Untrusted;
    }
    return reply_to(req);
  }
  if (it == c.opened.end()) return proto::make_error(req.header, Status::Access, fmt::format("vGPU {} is not open", req.header.vgpu));
  if (type == MsgType::GetBuffer && !reads_its_replies(c))
    return proto::make_error(req.header, Status::Again,
                             fmt::format("{} descriptors sent in replies not read yet: read them first", c.fds_sent));
  if (type == MsgType::Close) {
    hv->port().close(it->second);
    c.opened.erase(it);
    return reply_to(req);
  }
  return handle_vgpu(req, *hv, it->second);
}

bool Server::reads_its_replies(Client& c) {
  if (c.fds_sent < kMaxUnreadFds) return true;
  int queued = 0;  // bytes of replies the client has not read (SIOCOUTQ: our send queue)
  if (::ioctl(c.fd.get(), SIOCOUTQ, &queued) != 0 || queued != 0) return false;
  c.fds_sent = 0;  // everything read, descriptors included
  return true;
}

// Only the vGPUs the client may open: to anyone else they do not exist (docs/protocol.md §3.2).
Packet Server::list(const Client& c, const Packet& req) {
  std::vector<HostedVgpu*> shown;
  for (const auto& hv : host_.vgpus())
    if (shown.size() < proto::kMaxListEntries && access(c, *hv) != Access::Denied) shown.push_back(hv.get());
  Packet r = reply_to(req);
  proto::ListReply body;
  body.count = static_cast<uint32_t>(shown.size());
  r.append(body);
  for (HostedVgpu* hv : shown) {
    const Locked lk(hv->lock());
    r.append(hv->describe());
  }
  return r;
}

Packet Server::deny(const Client& c, const Packet& req, std::string_view why) {
  {
    const Locked lk(stats_mu_);
    ++stats_.denied;
  }
  spdlog::warn("client pid {} ({}) uid {}: request {} on vGPU {} denied: {}", c.peer.pid, c.name, c.peer.uid,
               req.header.type, req.header.vgpu, why);
  return proto::make_error(req.header, Status::Access,
                           fmt::format("{}uid {} {} (docs/security.md)",
                                       req.header.vgpu ? fmt::format("vGPU {}: ", req.header.vgpu) : "", c.peer.uid, why));
}

Packet Server::handle_vgpu(Packet& req, HostedVgpu& hv, ConsumerId consumer) {
  const auto type = static_cast<MsgType>(req.header.type);
  ConsumerPort& port = hv.port();
  switch (type) {
    case MsgType::QueryPlane: {
      proto::GfxPlaneInfo q{};
      if (req.body.size() < proto::kMinArgsz) return proto::make_error(req.header, Status::Invalid, "plane info shorter than 60 bytes");
      std::memcpy(&q, req.body.data(), std::min(req.body.size(), sizeof q));
      auto answer = port.query(consumer, q);
      if (!answer) return proto::make_error(req.header, status_of(answer.error().code), answer.error().message);
      Packet r = reply_to(req);
      r.append(*answer);
      return r;
    }
    case MsgType::GetBuffer: {
      proto::BufferRequest b;
      if (!req.read(b)) return proto::make_error(req.header, Status::Protocol, "GetBuffer without its body");
      auto buf = port.get(consumer, b.id);
      if (!buf) return proto::make_error(req.header, status_of(buf.error().code), buf.error().message);
      if (buf->extents.size() > proto::kMaxExtents) {
        (void)port.release(consumer, b.id);
        return proto::make_error(req.header, Status::Invalid, "buffer too fragmented for one reply");
      }
      Packet r = reply_to(req);
      proto::BufferReply body;
      body.id = buf->id;
      body.fourcc = buf->fourcc;
      body.modifier = buf->modifier;
      body.width = buf->width, body.height = buf->height, body.stride = buf->stride;
      body.extent_count = static_cast<uint32_t>(buf->extents.size());
      body.size = buf->size;
      body.flags = buf->dmabuf ? proto::kBufferHasDmabuf : 0;
      r.append(body);
      for (const auto& e : buf->extents) r.append(proto::Extent{e.offset, e.length});
      r.fds.push_back(std::move(buf->fd));
      if (buf->dmabuf) r.fds.push_back(std::move(buf->dmabuf));
      return r;
    }
    case MsgType::Release: {
      proto::ReleaseRequest rel;
      if (!req.read(rel)) return proto::make_error(req.header, Status::Protocol, "Release without its body");
      if (auto ok = port.release(consumer, rel.id); !ok)
        return proto::make_error(req.header, status_of(ok.error().code), ok.error().message);
      return reply_to(req);
    }
    case MsgType::SetEventfd: {
      if (req.fds.size() > 1) return proto::make_error(req.header, Status::Invalid, "SetEventfd takes at most one descriptor");
      auto ok = port.set_eventfd(consumer, req.fds.empty() ? UniqueFd() : std::move(req.fds[0]));
      if (!ok) return proto::make_error(req.header, Status::Invalid, ok.error());
      return reply_to(req);
    }
    case MsgType::Mask:
    case MsgType::Unmask: port.set_masked(consumer, type == MsgType::Mask); return reply_to(req);
    case MsgType::PollEvents: {
      Packet r = reply_to(req);
      const EventsState e = port.poll(consumer).value_or(EventsState{});
      r.append(proto::EventsReply{e.value, e.last_event_ns});
      return r;
    }
    case MsgType::GetDamage: return damage(req, port, consumer);
    default: break;
  }
  return proto::make_error(req.header, Status::Protocol, fmt::format("unknown message type {}", req.header.type));
}

// docs/protocol.md §3.9.
Packet Server::damage(const Packet& req, ConsumerPort& port, ConsumerId consumer) {
  proto::DamageRequest d;
  if (!req.read(d)) return proto::make_error(req.header, Status::Protocol, "GetDamage without its body");
  std::optional<hw::Plane> plane;
  switch (d.drm_plane_type) {
    case proto::kPlanePrimary: plane = hw::Plane::Primary; break;
    case proto::kPlaneOverlay: plane = hw::Plane::Sprite; break;
    case proto::kPlaneCursor: plane = hw::Plane::Cursor; break;
    default: return proto::make_error(req.header, Status::Invalid, fmt::format("plane type {} is not 0, 1 or 2", d.drm_plane_type));
  }
  const auto answer = port.damage(consumer, *plane).value_or(events::DamageAnswer{});
  Packet r = reply_to(req);
  proto::DamageReply body;
  body.flags = answer.hinted ? proto::kDamageHinted | (answer.damage.whole() ? proto::kDamageWhole : 0) : 0;
  body.count = answer.hinted ? static_cast<uint32_t>(answer.damage.rects().size()) : 0;
  r.append(body);
  for (const display::DamageRect& x : answer.damage.rects()) r.append(proto::DamageRect{x.x, x.y, x.w, x.h});
  return r;
}

void Server::drop(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Client& c = *it->second;
  for (auto [id, consumer] : c.opened)
    if (HostedVgpu* hv = host_.find(id)) hv->port().close(consumer);
  // Consumer gone, output released (docs/protocol.md §3.10); the config's assignments stay.
  if (DisplayLinks* links = host_.links())
    if (const size_t n = links->release_owner(c.id))
      spdlog::info("client pid {} ({}) went: {} output assignment(s) and lease(s) released", c.peer.pid, c.name, n);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  drain(fd);
  if (!c.greeted) hello_done(c);
  spdlog::info("client pid {} ({}) disconnected", c.peer.pid, c.name);
  clients_.erase(it);
  const Locked lk(stats_mu_);
  ++stats_.disconnects;
}

}  // namespace vgd::server
