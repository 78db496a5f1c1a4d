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

namespace vgd::daemon_bench {
namespace {

namespace mq = remote::mpqemu;

// One message's header (with the descriptors that came with it) read whole, blocking; nothing
// on EOF or error. Descriptors are returned for the caller to pass on or close.
bool read_header(int fd, std::array<std::byte, mq::kHeaderSize + mq::kMaxPayload>& buf, std::vector<int>& fds) {
  iovec iov{buf.data(), mq::kHeaderSize};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * mq::kMaxRamFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (::recvmsg(fd, &msg, MSG_WAITALL | MSG_CMSG_CLOEXEC) != static_cast<ssize_t>(mq::kHeaderSize)) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int d;
      std::memcpy(&d, CMSG_DATA(c) + i * sizeof(int), sizeof d);
      fds.push_back(d);
    }
  }
  return true;
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
    std::vector<int> descriptors;
    if (!read_header(fd_, buf, descriptors)) return;
    for (int d : descriptors) ::close(d);  // RAM and irqfds: this device uses neither
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

bool FlipSpy::forward_request() {
  std::array<std::byte, mq::kHeaderSize + mq::kMaxPayload> buf{};
  std::vector<int> fds;
  if (!read_header(qemu_, buf, fds)) return false;
  const auto h = mq::parse_header(std::span<const std::byte>(buf.data(), mq::kHeaderSize));
  size_t size = mq::kHeaderSize;
  if (h && h->payload_size &&
      ::recv(qemu_, buf.data() + size, h->payload_size, MSG_WAITALL) == static_cast<ssize_t>(h->payload_size))
    size += h->payload_size;
  if (h && h->cmd == mq::Command::BarWrite) {
    const auto m = mq::parse_payload(*h, std::span<const std::byte>(buf.data() + mq::kHeaderSize, size - mq::kHeaderSize), 0);
    const auto* b = m ? std::get_if<mq::BarAccess>(&*m) : nullptr;
    // BAR0 is 16 MiB and naturally aligned: the offset is the address's low 24 bits.
    if (b && (b->addr.value() & 0xFFFFFF) == hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSurf)) {
      const std::lock_guard lk(mu_);
      flips_.push_back(now_ns());
    }
  }
  iovec iov{buf.data(), size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * mq::kMaxRamFds)];
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  const bool ok = ::sendmsg(vgpud_, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(size);
  for (int d : fds) ::close(d);  // vgpud has its own copies now
  return ok;
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
