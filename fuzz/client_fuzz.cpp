// A hostile daemon answering libvgd-client. The input is a script of client calls and the
// daemon's side of the connection: a fake daemon on a thread (the other end of a SOCK_SEQPACKET
// socketpair) answers each request the library sends with the next packet of the stream
// (fuzz/packet_stream.h; a shaped packet echoes the request's seq, and its type and vGPU too
// when they are 0; `more` sends the next packet right after it, unasked), and hangs up when
// the stream ends. Meanwhile this thread drives a Connection and its sessions through the
// script: list, open, probe, query, buffer (mapped and read), release, events, damage, outputs,
// AttachVm, close.
//
// Invariants: whatever the daemon sends, every call returns a value or an error with a message
// — never a crash, a read outside a mapping or a hang (the fake answers every request or hangs
// up, so nothing waits for the reply timeout) — and once everything is dropped no descriptor
// is left open, whatever descriptors the replies carried.
//
// Input: u8 n, then n script bytes (low 5 bits: the call, modulo kCalls; high 3: its argument),
// then the reply stream.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "fuzz_check.h"
#include "packet_stream.h"
#include "proto/packet.h"
#include "util/fd_passing.h"

using namespace vgd;
using fuzz::ByteReader;

namespace {

constexpr size_t kMaxReplies = 64, kMaxSessions = 3, kMaxHeld = 6;
constexpr size_t kTouchPages = 64;

// The daemon's end: answers requests from the stream until it runs out, then hangs up.
void fake_daemon(UniqueFd sock, ByteReader in) {
  for (size_t n = 0; n < kMaxReplies && !in.empty();) {
    pollfd p{sock.get(), POLLIN, 0};
    if (::poll(&p, 1, -1) != 1) return;
    proto::Packet req;
    std::string why;
    const auto r = proto::recv_packet(sock.get(), req, why);
    if (r == proto::RecvResult::WouldBlock) continue;
    if (r != proto::RecvResult::Ok) return;  // the client hung up (or sent garbage: it never does)
    bool more = true;
    while (more && n < kMaxReplies && !in.empty()) {
      ++n;
      fuzz::StreamPacket reply = fuzz::next_packet(in);
      if (reply.type == 0) reply.type = req.header.type | proto::kReplyBit;
      if (reply.vgpu == 0) reply.vgpu = req.header.vgpu;
      const std::vector<std::byte> wire = reply.wire(req.header.seq);
      std::vector<int> fds;
      for (const UniqueFd& f : reply.fds) fds.push_back(f.get());
      if (send_with_fds(sock.get(), wire, fds) < 0) return;  // the client hung up
      more = reply.more;
    }
  }
}

template <class T>
bool outcome(const client::Result<T>& r) {
  if (!r) CHECK(!r.error().message.empty());
  return r.has_value();
}

// Reads the buffer as a consumer would: its first and last bytes and one per page between.
void touch(const client::MappedBuffer& b) {
  CHECK(b.size() <= b.mapped_size() && b.mapped_size() > 0);
  volatile std::byte sink{};
  const size_t step = std::max<size_t>(4096, b.mapped_size() / kTouchPages / 4096 * 4096);
  for (size_t at = 0; at < b.mapped_size(); at += step) sink = b.data()[at];
  sink = b.data()[b.mapped_size() - 1];
  (void)sink;
}

struct Script {
  std::optional<client::Connection> conn;
  std::vector<client::VgpuSession> sessions;
  std::vector<std::shared_ptr<const client::MappedBuffer>> held;
  proto::GfxPlaneInfo plane{};

  void keep(const client::Result<std::shared_ptr<const client::MappedBuffer>>& b, bool hold) {
    if (!outcome(b)) return;
    touch(**b);
    if (hold && held.size() < kMaxHeld) held.push_back(*b);
  }

  void run(uint8_t op, uint8_t arg) {
    const uint32_t vgpu = arg % 3 + 1;
    switch (op) {
      case 0: {
        const auto l = conn->list();
        if (outcome(l)) CHECK(l->size() <= proto::kMaxListEntries);
        return;
      }
      case 1: {
        if (sessions.size() >= kMaxSessions) return;
        auto s = conn->open(vgpu);
        if (outcome(s)) sessions.push_back(std::move(*s));
        return;
      }
      case 2: {
        const auto o = conn->outputs();
        if (outcome(o)) CHECK(o->outputs.size() <= proto::kMaxOutputs);
        return;
      }
      case 3: (void)outcome(conn->assign_output(vgpu, "Virtual-1", arg % 3)); return;
      case 4: (void)outcome(conn->unassign_output(vgpu, arg % 3)); return;
      case 5: (void)outcome(conn->attach_vm(vgpu)); return;  // the descriptor closes here
      case 6: held.clear(); return;  // releases, under hold and copy
      default: break;
    }
    if (sessions.empty()) return;
    client::VgpuSession& s = sessions[arg % sessions.size()];
    switch (op) {
      case 7: (void)outcome(s.probe()); return;
      case 8: {
        const auto q = s.query(arg % 3);
        if (outcome(q)) plane = *q;
        return;
      }
      case 9: keep(s.buffer(plane), arg & 4); return;
      case 10: keep(s.buffer(arg + 1), arg & 4); return;
      case 11: (void)outcome(s.release(plane.dmabuf_id)); return;
      case 12: (void)outcome(s.enable_events()); return;
      case 13: (void)outcome(s.wait_events(std::chrono::milliseconds(0))); return;
      case 14: (void)outcome(s.disable_events()); return;
      case 15: (void)outcome(arg & 1 ? s.mask() : s.unmask()); return;
      case 16: (void)outcome(s.poll_events()); return;
      case 17: {
        const auto d = s.damage(arg % 3);
        if (outcome(d)) CHECK(d->rects.size() <= proto::kMaxDamageRects);
        return;
      }
      case 18: (void)outcome(s.close()); return;
      case 19: sessions.erase(sessions.begin() + arg % sessions.size()); return;  // Close as it goes
      default: return;
    }
  }
};
constexpr uint8_t kCalls = 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  const auto before = fuzz::open_fds();
  ByteReader in(data, size);
  std::vector<uint8_t> script(in.u8());
  for (uint8_t& b : script) b = in.u8();

  int sv[2];
  CHECK(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
  std::thread daemon(fake_daemon, UniqueFd(sv[1]), in);
  {
    Script s;
    auto c = client::Connection::adopt(UniqueFd(sv[0]), "client-fuzz");
    if (outcome(c)) {
      s.conn.emplace(std::move(*c));
      for (uint8_t b : script) s.run(static_cast<uint8_t>((b & 31) % kCalls), static_cast<uint8_t>(b >> 5));
    }
    // Dropped in the order a program would: buffers (Releases), sessions (Close), connection.
    s.held.clear();
    s.sessions.clear();
    s.conn.reset();
  }
  daemon.join();  // the client's end is closed: the fake's next read sees the hang-up
  fuzz::check_fds(before, "the client kept descriptors");
  return 0;
}
