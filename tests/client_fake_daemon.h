// A fake vgpud for libvgd-client tests: a thread on the other end of a SOCK_SEQPACKET
// socketpair that speaks the protocol with the proto packet helpers, records what it was sent,
// and can be told to misbehave.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "events/event_value.h"
#include "hw/formats.h"
#include "proto/packet.h"

namespace vgd::client::test {

using proto::MsgType;
using proto::Packet;
using proto::Status;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kRamPages = 16;

// A memfd whose every 4-byte word holds its own offset: any byte tells where it came from.
// Sealed against shrinking, as vgpud's are (docs/protocol.md §3.5), unless told otherwise.
inline UniqueFd numbered_memfd(bool sealed = true) {
  UniqueFd fd(::memfd_create("client-test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  EXPECT_TRUE(fd.valid());
  std::vector<uint32_t> words(kRamPages * kPage / 4);
  for (size_t i = 0; i < words.size(); ++i) words[i] = static_cast<uint32_t>(i * 4);
  EXPECT_EQ(::write(fd.get(), words.data(), words.size() * 4), static_cast<ssize_t>(words.size() * 4));
  if (sealed) {
    EXPECT_EQ(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  }
  return fd;
}

inline uint32_t word_at(const MappedBuffer& b, size_t at) {
  uint32_t w;
  std::memcpy(&w, b.data() + at, 4);
  return w;
}

inline Packet reply_to(const Packet& req) {
  return proto::make_packet(static_cast<uint16_t>(req.header.type | proto::kReplyBit), req.header.seq, req.header.vgpu);
}

// The other end of the socket. By default it answers like vgpud: vGPUs 1 and 2; buffer id k is
// page k of the memfd (32x32 XRGB8888) unless `extents` says otherwise. `hook` sees every
// request first and may answer it instead.
class FakeDaemon {
 public:
  // Runs f under the lock the daemon's thread answers under.
  template <class F>
  auto locked(F f) {
    const std::lock_guard lk(mu_);
    return f();
  }
  using Hook = std::function<std::optional<Packet>(const Packet&)>;
  // Called under the lock, from the daemon's thread.
  void set_hook(Hook h) { locked([&] { hook_ = std::move(h); }); }
  void set_extents(uint32_t id, std::vector<proto::Extent> e) { locked([&] { extents_[id] = std::move(e); }); }
  // GetBuffer replies say kBufferHasDmabuf and carry `fds` descriptors (the memfd again stands
  // in for the dma-buf).
  void set_dmabuf(size_t fds) { locked([&] { dmabuf_fds_ = fds; }); }
  // What List says about vGPU `id`'s tearing control (none by default).
  void set_tearing(uint32_t id, proto::Tearing t) { locked([&] { tearing_[id] = t; }); }

  FakeDaemon() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    client_.reset(sv[0]);
    server_.reset(sv[1]);
  }
  ~FakeDaemon() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Starts answering and hands out the client's end.
  UniqueFd start() {
    thread_ = std::thread([this] { serve(); });
    return std::move(client_);
  }
  Result<Connection> connect() { return Connection::adopt(start(), "test"); }
  // The daemon dies: its end of the socket closes.
  void hang_up() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  std::vector<uint16_t> types() { return locked([&] { return types_; }); }
  std::vector<uint32_t> releases() { return locked([&] { return releases_; }); }
  std::vector<uint32_t> gets() { return locked([&] { return gets_; }); }
  int eventfd() { return locked([&] { return eventfd_.get(); }); }
  std::string client_name() { return locked([&] { return name_; }); }
  size_t count(MsgType t) {
    const auto v = types();
    return static_cast<size_t>(std::count(v.begin(), v.end(), static_cast<uint16_t>(t)));
  }

 private:

  void serve() {
    while (!stop_) {
      pollfd p{server_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      Packet req;
      std::string why;
      const auto r = proto::recv_packet(server_.get(), req, why);
      if (r == proto::RecvResult::WouldBlock) continue;
      if (r != proto::RecvResult::Ok) return;
      std::optional<Packet> reply;
      {
        const std::lock_guard lk(mu_);
        types_.push_back(req.header.type);
        reply = hook_ ? hook_(req) : std::nullopt;
        if (!reply) reply = answer(req);
      }
      if (!proto::send_packet(server_.get(), *reply)) return;
    }
  }

  Packet answer(Packet& req) {
    Packet r = reply_to(req);
    switch (static_cast<MsgType>(req.header.type)) {
      case MsgType::Hello: {
        proto::HelloRequest h;
        if (req.read(h)) name_.assign(h.client_name, ::strnlen(h.client_name, sizeof h.client_name));
        r.append(proto::HelloReply{proto::kVersion, proto::kMaxPacket, 2, 0});
        return r;
      }
      case MsgType::List: {
        r.append(proto::ListReply{2, 0});
        for (uint32_t id : {1u, 2u}) {
          proto::VgpuEntry e{id, 0, 1024, 768, 60000, static_cast<uint32_t>(tearing_[id]), {}, {}};
          std::strcpy(e.type, "GVTg_V5_8");
          std::strcpy(e.workload, id == 1 ? "desktop" : "video");
          r.append(e);
        }
        return r;
      }
      case MsgType::Open:
        if (req.header.vgpu != 1 && req.header.vgpu != 2) return proto::make_error(req.header, Status::NoEntry, "no vGPU");
        return r;
      case MsgType::QueryPlane: {
        proto::GfxPlaneInfo q;
        (void)req.read(q);
        if (q.flags == proto::kFlagDmabuf && q.drm_plane_type == proto::kPlanePrimary) {
          q.drm_format = hw::drm::kXRGB8888, q.width = 32, q.height = 32, q.stride = 128, q.size = 4096;
          q.dmabuf_id = 3;
        }
        r.append(q);
        return r;
      }
      case MsgType::GetBuffer: {
        proto::BufferRequest b;
        (void)req.read(b);
        gets_.push_back(b.id);
        const auto ext = extents_.contains(b.id) ? extents_[b.id] : std::vector<proto::Extent>{{b.id * kPage, kPage}};
        proto::BufferReply body{b.id, hw::drm::kXRGB8888, 0, 32, 32, 128, static_cast<uint32_t>(ext.size()), 0,
                                dmabuf_fds_ ? proto::kBufferHasDmabuf : 0, 0};
        for (const auto& e : ext) body.size += e.length;
        r.append(body);
        for (const auto& e : ext) r.append(e);
        for (size_t i = 0; i < std::max<size_t>(dmabuf_fds_, 1); ++i) r.fds.emplace_back(::dup(memfd_.get()));
        return r;
      }
      case MsgType::Release: {
        proto::ReleaseRequest rel;
        (void)req.read(rel);
        releases_.push_back(rel.id);
        return r;
      }
      case MsgType::SetEventfd:
        eventfd_ = req.fds.empty() ? UniqueFd() : std::move(req.fds[0]);
        return r;
      case MsgType::PollEvents:
        r.append(proto::EventsReply{events::encode({1, 0, 2, 0})});
        return r;
      default: return r;  // Close, Mask, Unmask
    }
  }

  UniqueFd client_, server_, memfd_ = numbered_memfd(), eventfd_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<uint16_t> types_;
  std::vector<uint32_t> releases_, gets_;
  std::string name_;
  Hook hook_;
  size_t dmabuf_fds_ = 0;
  std::map<uint32_t, std::vector<proto::Extent>> extents_;
  std::map<uint32_t, proto::Tearing> tearing_;
};

// A connection to a fake daemon with vGPU 1 open, whose tearing control is `tearing`.
struct Opened {
  FakeDaemon d;
  std::optional<Connection> conn;
  std::optional<VgpuSession> vgpu;
  explicit Opened(proto::Tearing tearing = proto::Tearing::None) {
    d.set_tearing(1, tearing);
    auto c = d.connect();
    EXPECT_TRUE(c);
    conn.emplace(std::move(*c));
    auto v = conn->open(1);
    EXPECT_TRUE(v);
    vgpu.emplace(std::move(*v));
  }
};

}  // namespace vgd::client::test
