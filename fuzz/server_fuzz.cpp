// A hostile consumer on vgpud's control socket. One real daemon (server::Host with four vGPUs —
// tearing none, hold and copy, whose stopped guests left planes on screen, and one waiting for a
// QEMU VM — and a virtual host display, behind a real server::Server) is made once; each input
// is a connection: a stream of packets with descriptors (fuzz/packet_stream.h) sent one by one
// (or several before the daemon turns, `more`), served by turning the daemon's loop on this
// thread (Server::serve_pending), every reply read and its descriptors closed.
//
// Invariants (docs/protocol.md): every reply answers the oldest unanswered packet, in order,
// echoing its seq and vGPU (bytes 8-15 of a malformed packet, 0 for one shorter than a
// header); a malformed packet, an unknown type, a missing or second Hello is EPROTO and the
// connection closes after it, and only then (or when pipelined replies filled the socket); a
// success has the request's type | 0x8000 and a body and descriptors as §3 says; after the
// input a fresh client's Hello and List still work; and the daemon holds no more descriptors
// than before the input (what a client left behind goes with its connection).
// VGD_FUZZ_TRACE=1 prints every request and its reply (to see what a seed reaches).
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "fuzz_check.h"
#include "packet_stream.h"
#include "proto/packet.h"
#include "server_fuzz_daemon.h"
#include "util/fd_passing.h"

using namespace vgd;
using fuzz::ByteReader;
using fuzz::Daemon;
using fuzz::kVgpus;
using proto::MsgType;
using proto::Packet;
using proto::Status;

namespace {

constexpr size_t kMaxPackets = 64;

// What a sent packet must be answered with.
struct Sent {
  uint16_t type = 0;
  uint32_t seq = 0, vgpu = 0;  // what the reply echoes
  bool well_formed = false;    // a header the daemon accepts (§2)
};

Sent expectation(const std::vector<std::byte>& wire, size_t fds) {
  Sent s;
  if (wire.size() < sizeof(proto::Header)) return s;
  proto::Header h;
  std::memcpy(&h, wire.data(), sizeof h);
  s.type = h.type, s.seq = h.seq, s.vgpu = h.vgpu;
  s.well_formed = h.magic == proto::kMagic && h.version == proto::kVersion && wire.size() <= proto::kMaxPacket &&
                  fds <= proto::kMaxFds;
  return s;
}

// A connection of the harness: non-blocking, so a daemon that stops reading cannot hang it.
class Peer {
 public:
  explicit Peer(const Daemon& d) : d_(d), fd_(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, d.path.c_str(), d.path.size());
    CHECK(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    d_.pump();  // accepted
  }

  // False once the daemon closed the connection (or will not take more).
  bool send(const std::vector<std::byte>& wire, const std::vector<UniqueFd>& fds) {
    std::vector<int> raw;
    for (const UniqueFd& f : fds) raw.push_back(f.get());
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (send_with_fds(fd_.get(), wire, raw) >= 0) return true;
      if (errno != EAGAIN) return false;
      d_.pump();  // its queue is full: let the daemon read
      read_replies();
    }
    return false;
  }

  // Every reply waiting, each checked against the oldest unanswered packet.
  void read_replies() {
    for (;;) {
      Packet r;
      std::string why;
      const proto::RecvResult res = proto::recv_packet(fd_.get(), r, why);
      if (res == proto::RecvResult::WouldBlock) return;
      if (res != proto::RecvResult::Ok) {
        closed_ = true;
        return;
      }
      static const bool trace = std::getenv("VGD_FUZZ_TRACE") != nullptr;
      if (trace)
        std::fprintf(stderr, "reply %#x seq %u vGPU %u %s\n", r.header.type, r.header.seq, r.header.vgpu,
                     r.header.type == proto::kError ? proto::error_text(r).c_str() : "");
      CHECK(!closed_ && !after_eproto_);  // nothing comes after EPROTO
      CHECK(!sent_.empty());              // the daemon never sends anything unasked (§1)
      check(sent_.front(), r);
      sent_.pop_front();
    }
  }

  void expect(Sent s) {
    sent_.push_back(s);
    deepest_ = std::max(deepest_, sent_.size());
  }
  // After the daemon turned with nothing left to send: every packet was answered, or the
  // connection closed after EPROTO (or, pipelined, because replies filled it).
  void settle() {
    d_.pump();
    read_replies();
    if (after_eproto_) {
      CHECK(closed_);
    } else if (!closed_) {
      CHECK(sent_.empty());
    } else {
      CHECK(deepest_ > 1);
    }
  }
  bool gone() const { return closed_ || after_eproto_; }
  bool greeted() const { return greeted_; }

 private:
  void check(const Sent& s, const Packet& r) {
    static const bool trace = std::getenv("VGD_FUZZ_TRACE") != nullptr;
    if (trace) std::fprintf(stderr, "  answers request %u seq %u on vGPU %u\n", s.type, s.seq, s.vgpu);
    CHECK(r.header.seq == s.seq && r.header.vgpu == s.vgpu);
    const bool fatal_expected = !s.well_formed || !proto::known_request(s.type) ||
                                (s.type == static_cast<uint16_t>(MsgType::Hello)) == greeted_;
    if (r.header.type == proto::kError) {
      proto::ErrorBody e;
      CHECK(r.read(e) && e.length <= sizeof e.message && e.code < 0 && r.fds.empty());
      CHECK(!fatal_expected || e.code == static_cast<int32_t>(Status::Protocol));
      after_eproto_ = e.code == static_cast<int32_t>(Status::Protocol);
      return;
    }
    CHECK(!fatal_expected);
    CHECK(r.header.type == (s.type | proto::kReplyBit));
    check_body(static_cast<MsgType>(s.type), r);
    greeted_ = true;
  }

  // What §3 says each reply carries.
  static void check_body(MsgType type, const Packet& r) {
    switch (type) {
      case MsgType::Hello: {
        proto::HelloReply h;
        CHECK(r.read(h) && h.server_version == proto::kVersion && h.max_packet == proto::kMaxPacket && h.vgpus == kVgpus);
        break;
      }
      case MsgType::List: {
        proto::ListReply l;
        CHECK(r.read(l) && l.count == kVgpus && r.body.size() == sizeof l + kVgpus * sizeof(proto::VgpuEntry));
        break;
      }
      case MsgType::GetBuffer: check_buffer(r); return;
      case MsgType::AttachVm: CHECK(r.fds.size() == 1); return;
      default: break;
    }
    // The requests of §3's table up to UnassignOutput carry no descriptor back; a type added
    // later (a lease, say) may, and is left to its own tests.
    if (static_cast<uint16_t>(type) <= static_cast<uint16_t>(MsgType::UnassignOutput)) CHECK(r.fds.empty());
  }

  // §3.5: extents of whole pages covering the plane, inside the memfd, which cannot shrink.
  static void check_buffer(const Packet& r) {
    proto::BufferReply b;
    CHECK(r.read(b) && r.body.size() == sizeof b + size_t{b.extent_count} * sizeof(proto::Extent));
    CHECK(r.fds.size() == ((b.flags & proto::kBufferHasDmabuf) ? 2u : 1u));
    struct stat st {};
    CHECK(::fstat(r.fds[0].get(), &st) == 0);
    CHECK(::fcntl(r.fds[0].get(), F_GET_SEALS) & F_SEAL_SHRINK);
    CHECK((::fcntl(r.fds[0].get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
    uint64_t total = 0;
    for (uint32_t i = 0; i < b.extent_count; ++i) {
      proto::Extent e;
      CHECK(r.read(e, sizeof b + i * sizeof e));
      CHECK(e.length > 0 && e.offset % 4096 == 0 && e.length % 4096 == 0);
      CHECK(e.offset + e.length <= static_cast<uint64_t>(st.st_size));
      total += e.length;
    }
    CHECK(total >= b.size && b.size > 0);
  }

  const Daemon& d_;
  UniqueFd fd_;
  std::deque<Sent> sent_;
  size_t deepest_ = 0;  // most packets unanswered at once
  bool closed_ = false, after_eproto_ = false, greeted_ = false;
};

void run_input(const Daemon& d, const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  Peer peer(d);
  uint32_t seq = 0;
  for (size_t n = 0; n < kMaxPackets && !in.empty() && !peer.gone(); ++n) {
    fuzz::StreamPacket p = fuzz::next_packet(in);
    const std::vector<std::byte> wire = p.wire(++seq);
    if (!peer.send(wire, p.fds)) break;
    peer.expect(expectation(wire, p.fds.size()));
    p.fds.clear();  // the daemon has its own copies now
    if (p.more) continue;
    d.pump();
    peer.read_replies();
  }
  peer.settle();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Daemon& d = fuzz::daemon();
  const auto before = fuzz::open_fds();
  run_input(d, data, size);
  d.pump();  // the connection's end
  fuzz::check_alive(d);
  // A VM that attached goes when the harness closed its socket, on its own thread.
  for (int i = 0; i < 3000 && fuzz::open_fds() != before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    d.pump();
  }
  fuzz::check_fds(before, "the daemon kept descriptors after its client left");
  return 0;
}
