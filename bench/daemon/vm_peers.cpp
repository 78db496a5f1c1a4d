#include "vm_peers.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <span>

#include "common.h"
#include "hw/display.h"
#include "remote/mpqemu_wire.h"
#include "remote/pci_function.h"
#include "util/fd_passing.h"

namespace vgd::daemon_bench {
namespace {

namespace mq = remote::mpqemu;

// One message's header (with the descriptors that came with it) read whole, blocking; false on
// EOF or error. The descriptors are the caller's, to pass on or drop.
bool read_header(int fd, std::array<std::byte, mq::kHeaderSize + mq::kMaxPayload>& buf, std::vector<UniqueFd>& fds) {
  const Received r = recv_with_fds(fd, std::span(buf).first(mq::kHeaderSize), MSG_WAITALL, mq::kMaxRamFds, fds);
  return r.n == static_cast<ssize_t>(mq::kHeaderSize);
}

}  // namespace

MinimalRemote::~MinimalRemote() {
  ::shutdown(fd_, SHUT_RDWR);
  thread_.join();
  ::close(fd_);
}

void MinimalRemote::loop() {
  remote::PciFunction pci;
  std::array<std::byte, mq::kHeaderSize + mq::kMaxPayload> buf{};
  for (;;) {
    std::vector<UniqueFd> descriptors;  // RAM and irqfds: this device uses neither
    if (!read_header(fd_, buf, descriptors)) return;
    const size_t fds = descriptors.size();
    const auto h = mq::parse_header(std::span<const std::byte>(buf.data(), mq::kHeaderSize));
    if (!h) return;
    if (h->payload_size && ::recv(fd_, buf.data() + mq::kHeaderSize, h->payload_size, MSG_WAITALL) !=
                               static_cast<ssize_t>(h->payload_size))
      return;
    const auto m = mq::parse_payload(*h, std::span<const std::byte>(buf.data() + mq::kHeaderSize, h->payload_size), fds);
    if (!m) return;
    uint64_t value = 0;
    if (const auto* c = std::get_if<mq::ConfigAccess>(&*m)) {
      if (c->write)
        pci.write(c->offset, c->len, c->value);
      else
        value = pci.read(c->offset, c->len);
    } else if (std::holds_alternative<mq::SyncSysmem>(*m) || std::holds_alternative<mq::SetIrqfd>(*m)) {
      continue;  // no reply
    }
    const auto ret = mq::encode_ret(value);
    if (::send(fd_, ret.data(), ret.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(ret.size())) return;
  }
}

FlipSpy::~FlipSpy() {
  ::shutdown(qemu_, SHUT_RDWR);
  ::shutdown(vgpud_, SHUT_RDWR);
  thread_.join();
  ::close(qemu_);
  ::close(vgpud_);
}

std::vector<int64_t> FlipSpy::flips() const {
  const std::lock_guard lk(mu_);
  return flips_;
}

std::vector<FlipSpy::Access> FlipSpy::accesses() const {
  const std::lock_guard lk(mu_);
  return accesses_;
}

bool FlipSpy::forward_request() {
  std::array<std::byte, mq::kHeaderSize + mq::kMaxPayload> buf{};
  std::vector<UniqueFd> fds;
  if (!read_header(qemu_, buf, fds)) return false;
  const auto h = mq::parse_header(std::span<const std::byte>(buf.data(), mq::kHeaderSize));
  size_t size = mq::kHeaderSize;
  if (h && h->payload_size &&
      ::recv(qemu_, buf.data() + size, h->payload_size, MSG_WAITALL) == static_cast<ssize_t>(h->payload_size))
    size += h->payload_size;
  if (h && (h->cmd == mq::Command::BarWrite || h->cmd == mq::Command::BarRead)) {
    const auto m = mq::parse_payload(*h, std::span<const std::byte>(buf.data() + mq::kHeaderSize, size - mq::kHeaderSize), 0);
    const auto* b = m ? std::get_if<mq::BarAccess>(&*m) : nullptr;
    // BAR0 is 16 MiB and naturally aligned: the offset is the address's low 24 bits.
    const auto offset = b ? static_cast<uint32_t>(b->addr.value() & 0xFFFFFF) : 0;
    if (b && b->memory) {
      const int64_t t = now_ns();
      const std::lock_guard lk(mu_);
      accesses_.push_back({t, offset, b->write});
      if (b->write && offset == hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSurf)) flips_.push_back(t);
    }
  }
  std::vector<int> raw;
  for (const UniqueFd& d : fds) raw.push_back(d.get());
  // vgpud gets its own copies; ours close with `fds`.
  return send_with_fds(vgpud_, std::span(buf).first(size), raw) == static_cast<ssize_t>(size);
}

void FlipSpy::loop() {
  for (;;) {
    pollfd p[2] = {{qemu_, POLLIN, 0}, {vgpud_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) return;
    if (p[0].revents && !forward_request()) return;
    if (p[1].revents) {  // replies carry no descriptors: pass the bytes on
      char buf[256];
      const ssize_t n = ::recv(vgpud_, buf, sizeof buf, 0);
      if (n <= 0 || ::send(qemu_, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) return;
    }
  }
}

}  // namespace vgd::daemon_bench
