#include "remote/proxy_session.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/fd_passing.h"
#include "util/guest_error_log.h"

namespace vgd::remote {

namespace mq = mpqemu;

std::string_view reason_name(DetachReason r) {
  switch (r) {
    case DetachReason::PeerClosed: return "peer closed";
    case DetachReason::SocketError: return "socket error";
    case DetachReason::Malformed: return "malformed message";
    case DetachReason::ReplyStalled: return "reply stalled";
    case DetachReason::Stopped: return "stopped";
  }
  return "?";
}

// The message being read: header first, then its payload, and every descriptor that came with
// either (QEMU attaches them to the header's sendmsg).
struct ProxySession::Incoming {
  std::array<std::byte, mq::kHeaderSize + mq::kMaxPayload> buf{};
  size_t have = 0;
  size_t need = mq::kHeaderSize;
  std::optional<mq::HeaderInfo> header;
  std::vector<UniqueFd> fds;
};

ProxySession::ProxySession(UniqueFd socket, Endpoint& endpoint, IntxLine& intx, Options options)
    : socket_(std::move(socket)),
      stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      endpoint_(endpoint),
      intx_(intx),
      options_(std::move(options)),
      pci_(options_.identity, options_.bar0_size) {
  if (!stop_) throw std::system_error(errno, std::generic_category(), "eventfd");
  // Non-blocking, so that a peer that sends half a message cannot hold the loop in recvmsg
  // where stop() cannot reach it.
  ::fcntl(socket_.get(), F_SETFL, ::fcntl(socket_.get(), F_GETFL) | O_NONBLOCK);
}

ProxySession::~ProxySession() {
  stop();
  if (!thread_.joinable()) return;
  // Destroyed from on_detach, on the session's own thread: run() touches nothing of ours after
  // the callback, so let the thread finish on its own.
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

void ProxySession::start() {
  thread_ = std::thread([this] { run(); });
}

void ProxySession::stop() {
  const uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(stop_.get(), &one, sizeof one);
}

Detach ProxySession::run() {
  Detach d = loop();
  socket_.reset();     // QEMU sees the device gone (its accesses then fail, reads all ones)
  intx_.disconnect();  // the eventfds belonged to this connection
  if (d.reason == DetachReason::Malformed) ++malformed_;
  if (d.reason == DetachReason::Stopped || d.reason == DetachReason::PeerClosed) {
    spdlog::info("{}: x-pci-proxy-dev session ended: {} ({})", options_.name, reason_name(d.reason), d.detail);
  } else {
    spdlog::warn("{}: x-pci-proxy-dev session closed: {}: {}", options_.name, reason_name(d.reason), d.detail);
  }
  auto callback = options_.on_detach;  // copied: the callback may destroy the session
  if (callback) callback(d);
  return d;
}

SessionCounters ProxySession::counters() const {
  SessionCounters c;
  for (size_t i = 0; i < c.messages.size(); ++i) c.messages[i] = messages_[i].load();
  c.malformed = malformed_;
  c.bytes_in = bytes_in_;
  c.bytes_out = bytes_out_;
  c.ram_updates = ram_updates_;
  c.bar_misses = bar_misses_;
  c.bar0_base = bar0_base_;
  c.function_resets = function_resets_;
  return c;
}

Detach ProxySession::loop() {
  Incoming in;
  for (;;) {
    pollfd fds[3] = {{socket_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}, {intx_.resample_fd(), POLLIN, 0}};
    const nfds_t count = fds[2].fd >= 0 ? 3 : 2;
    if (::poll(fds, count, -1) < 0) {
      if (errno == EINTR) continue;
      return {DetachReason::SocketError, fmt::format("poll: {}", std::strerror(errno))};
    }
    if (fds[1].revents) return {DetachReason::Stopped, "detached by the host"};
    if (count == 3 && fds[2].revents) intx_.on_resample();
    if (fds[0].revents) {
      if (auto d = receive(in)) return std::move(*d);
    }
  }
}

// Reads what the current message still lacks until the socket runs dry or one message has been
// handled (then the loop polls again, so stop() and resamples are never starved).
std::optional<Detach> ProxySession::receive(Incoming& in) {
  for (;;) {
    // Owns every descriptor before anything else is looked at, so none can leak.
    const Received r = recv_with_fds(socket_.get(), std::span(in.buf).subspan(in.have, in.need - in.have),
                                     MSG_DONTWAIT, mq::kMaxRamFds, in.fds);
    const ssize_t n = r.n;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return Detach{DetachReason::PeerClosed, "connection reset"};
      return Detach{DetachReason::SocketError, fmt::format("recvmsg: {}", std::strerror(errno))};
    }
    if (r.msg_flags & MSG_CTRUNC) {
      return malformed(fmt::format("more than {} descriptors with one message", mq::kMaxRamFds));
    }
    if (in.fds.size() > mq::kMaxRamFds) {
      return malformed(fmt::format("{} descriptors with one message", in.fds.size()));
    }
    if (n == 0) {
      if (in.have == 0) return Detach{DetachReason::PeerClosed, "QEMU closed the connection"};
      return malformed(fmt::format("{}: connection closed after {} of {} bytes",
                                   mq::error_name(in.header ? mq::WireError::ShortPayload : mq::WireError::ShortHeader),
                                   in.have, in.need));
    }
    in.have += static_cast<size_t>(n);
    bytes_in_ += static_cast<uint64_t>(n);
    if (in.have < in.need) continue;
    const auto bytes = std::span<const std::byte>(in.buf.data(), in.have);
    if (!in.header) {
      auto h = mq::parse_header(bytes);
      if (!h) return malformed(std::string(mq::error_name(h.error())));
      in.header = *h;
      in.need = mq::kHeaderSize + h->payload_size;
      if (in.have < in.need) continue;
    }
    ++messages_[static_cast<size_t>(in.header->cmd)];
    auto m = mq::parse_payload(*in.header, bytes.subspan(mq::kHeaderSize), in.fds.size());
    if (!m) {
      return malformed(fmt::format("{} ({}, {} descriptors)", mq::error_name(m.error()),
                                   mq::command_name(in.header->cmd), in.fds.size()));
    }
    if (auto d = dispatch(*m, in.fds)) return d;
    in = Incoming{};  // closes descriptors nobody took
    return std::nullopt;
  }
}

std::optional<Detach> ProxySession::dispatch(const mq::Message& m, std::vector<UniqueFd>& fds) {
  if (const auto* s = std::get_if<mq::SyncSysmem>(&m)) {
    std::vector<RamSection> sections;
    for (size_t i = 0; i < s->regions.size(); ++i) {
      const auto& r = s->regions[i];
      sections.push_back({r.gpa, r.size, r.fd_offset, std::move(fds[i])});
    }
    endpoint_.set_guest_ram(std::move(sections));
    ++ram_updates_;
    return std::nullopt;  // no reply: QEMU does not wait for one
  }
  if (std::holds_alternative<mq::SetIrqfd>(m)) {
    intx_.connect(std::move(fds[0]), std::move(fds[1]));
    return std::nullopt;
  }
  if (const auto* c = std::get_if<mq::ConfigAccess>(&m)) {
    if (!c->write) {
      pci_.set_interrupt_status(intx_.level());
      return reply(pci_.read(c->offset, c->len));
    }
    if (pci_.write(c->offset, c->len, c->value) == PciFunction::WriteEffect::FunctionReset) {
      // The guest's own reset of the function (its driver's reset hooks run around it): the
      // device as after DEVICE_RESET, the VM's RAM still there. The kernel restores config.
      ++function_resets_;
      spdlog::info("{}: function-level reset by the guest", options_.name);
      reset_device();
      return reply(0);
    }
    intx_.set_enabled(!pci_.intx_disabled());
    bar0_base_ = pci_.memory_enabled() ? pci_.bar0_base().value_or(Gpa(0)).value() : 0;
    return reply(0);
  }
  if (const auto* b = std::get_if<mq::BarAccess>(&m)) return reply(bar_access(*b));
  // DEVICE_RESET
  pci_.reset();
  reset_device();
  return reply(0);
}

void ProxySession::reset_device() {
  intx_.set_enabled(true);
  bar0_base_ = 0;
  endpoint_.reset();
}

uint64_t ProxySession::bar_access(const mq::BarAccess& b) {
  const auto offset = b.memory ? pci_.decode(b.addr, b.size) : std::nullopt;
  if (!offset) {
    // QEMU maps BAR0 from the same config writes we track, so this is a race with a BAR move or
    // a confused peer: behave like an unclaimed bus cycle (reads all ones, writes dropped).
    const uint64_t n = ++bar_misses_;
    if (should_log_nth(n)) {
      spdlog::warn("{}: BAR {} of {} bytes at {:#x} outside BAR0 (occurrence {})", options_.name,
                   b.write ? "write" : "read", b.size, b.addr.value(), n);
    }
    return b.write ? 0 : UINT64_MAX >> (64 - 8 * b.size);
  }
  if (b.write) {
    endpoint_.bar0_write(*offset, b.size, b.value);
    return 0;
  }
  return endpoint_.bar0_read(*offset, b.size);
}

std::optional<Detach> ProxySession::reply(uint64_t value) {
  const auto bytes = mq::encode_ret(value);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(socket_.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET) {
      return Detach{DetachReason::PeerClosed, "QEMU closed the connection before the reply"};
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Detach{DetachReason::SocketError, fmt::format("send: {}", std::strerror(errno))};
    }
    // QEMU waits for every reply before it sends the next request, so a full socket means it
    // stopped reading.
    pollfd p{socket_.get(), POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(options_.reply_timeout.count())) == 0) {
      return Detach{DetachReason::ReplyStalled, "QEMU does not read its replies"};
    }
  }
  bytes_out_ += sent;
  return std::nullopt;
}

Detach ProxySession::malformed(std::string why) { return {DetachReason::Malformed, std::move(why)}; }

}  // namespace vgd::remote
