// Test doubles for serving a device over x-pci-proxy-dev: a fake QEMU that speaks the wire
// format over its end of a socketpair, and a fake device (Endpoint) that records what reaches it.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <dirent.h>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "remote/endpoint.h"
#include "remote/mpqemu_wire.h"
#include "remote/proxy_session.h"
#include "util/fd_passing.h"
#include "util/unique_fd.h"

namespace vgd::remote::test {

namespace mq = mpqemu;

// A BAR_READ as captured from QEMU 7.2 (docs/vm.md, Wire format): 4 bytes at guest-physical
// 0xfd078000, i.e. PVINFO of a BAR0 at 0xfd000000, in a memory BAR.
inline std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}
inline std::vector<std::byte> captured_bar_read() {
  return bytes({0x05, 0, 0, 0, 0, 0, 0, 0, 0x18, 0, 0, 0, 0, 0, 0, 0,        // header
                0x00, 0x80, 0x07, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // addr, val
                0x04, 0, 0, 0, 0x01, 0, 0, 0});                              // size, memory, pad
}

// Generous: only catches hangs.
inline constexpr auto kHang = std::chrono::seconds(20);

inline std::pair<UniqueFd, UniqueFd> socket_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw std::runtime_error("socketpair");
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

inline UniqueFd make_eventfd() { return UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)); }

// How many descriptors this process has open.
inline size_t open_fds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n - 1;  // the directory's own
}

// Waits (up to kHang) until pred holds.
inline bool eventually(const std::function<bool()>& pred) {
  const auto until = std::chrono::steady_clock::now() + kHang;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The eventfd's counter (0 if nothing was signalled), reset by reading.
inline uint64_t drain(int efd) {
  uint64_t v = 0;
  return ::read(efd, &v, sizeof v) == sizeof v ? v : 0;
}

// QEMU's side of the socket.
class FakeQemu {
 public:
  explicit FakeQemu(UniqueFd sock) : sock_(std::move(sock)) {}

  // Sends raw bytes, with descriptors on the same sendmsg as QEMU attaches them to the header.
  void send_raw(std::span<const std::byte> bytes, const std::vector<int>& fds = {}) {
    ASSERT_EQ(send_with_fds(sock_.get(), bytes, fds), static_cast<ssize_t>(bytes.size()));
  }
  void send(const mq::Message& m, const std::vector<int>& fds = {}) { send_raw(mq::encode(m), fds); }

  // The next reply's raw bytes, or nothing if the device closed the connection.
  std::optional<std::vector<std::byte>> raw_reply() {
    std::vector<std::byte> out(mq::kRetSize);
    size_t have = 0;
    while (have < out.size()) {
      pollfd p{sock_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kHang).count())) != 1) {
        ADD_FAILURE() << "no reply";
        return std::nullopt;
      }
      const ssize_t n = ::recv(sock_.get(), out.data() + have, out.size() - have, 0);
      if (n <= 0) return std::nullopt;
      have += static_cast<size_t>(n);
    }
    return out;
  }
  // The value of the next reply, which must be a RET.
  std::optional<uint64_t> reply() {
    const auto r = raw_reply();
    if (!r) return std::nullopt;
    mq::Header h;
    std::memcpy(&h, r->data(), sizeof h);
    EXPECT_EQ(h.cmd, static_cast<int32_t>(mq::Command::Ret));
    EXPECT_EQ(h.size, 8u);
    uint64_t v;
    std::memcpy(&v, r->data() + mq::kHeaderSize, sizeof v);
    return v;
  }

  std::optional<uint64_t> config_read(uint32_t off, uint32_t len) {
    send(mq::ConfigAccess{false, off, len, 0});
    return reply();
  }
  void config_write(uint32_t off, uint32_t len, uint32_t value) {
    send(mq::ConfigAccess{true, off, len, value});
    EXPECT_EQ(reply(), 0u);
  }
  std::optional<uint64_t> bar_read(uint64_t gpa, uint32_t size) {
    send(mq::BarAccess{false, true, Gpa(gpa), size, 0});
    return reply();
  }
  void bar_write(uint64_t gpa, uint32_t size, uint64_t value) {
    send(mq::BarAccess{true, true, Gpa(gpa), size, value});
    EXPECT_EQ(reply(), 0u);
  }

  // True once the device has closed its end: EOF, or ECONNRESET when it closed with bytes of
  // ours still unread.
  bool closed_by_device() {
    pollfd p{sock_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kHang).count())) != 1) return false;
    char c;
    const ssize_t n = ::recv(sock_.get(), &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  int fd() const { return sock_.get(); }
  void close() { sock_.reset(); }

 private:
  UniqueFd sock_;
};

// A device that records what reaches it; reads return a pattern of the offset unless written.
class FakeEndpoint : public Endpoint {
 public:
  struct Access {
    bool write;
    uint64_t offset;
    uint32_t size;
    uint64_t value;
    friend bool operator==(const Access&, const Access&) = default;
  };

  uint64_t bar0_read(MmioOffset offset, uint32_t size) override {
    std::lock_guard l(mu_);
    const auto it = regs_.find(offset.value());
    const uint64_t v = it != regs_.end() ? it->second : 0xc0de0000'00000000 | offset.value();
    accesses_.push_back({false, offset.value(), size, v});
    return size == 8 ? v : v & ((uint64_t{1} << (8 * size)) - 1);
  }
  void bar0_write(MmioOffset offset, uint32_t size, uint64_t value) override {
    std::lock_guard l(mu_);
    regs_[offset.value()] = value;
    accesses_.push_back({true, offset.value(), size, value});
  }
  void set_guest_ram(std::vector<RamSection> sections) override {
    std::lock_guard l(mu_);
    ram_ = std::move(sections);
    ++ram_updates_;
  }
  void reset() override {
    std::lock_guard l(mu_);
    regs_.clear();
    ++resets_;
  }

  std::vector<Access> accesses() const { std::lock_guard l(mu_); return accesses_; }
  int resets() const { std::lock_guard l(mu_); return resets_; }
  int ram_updates() const { std::lock_guard l(mu_); return ram_updates_; }
  // Reads guest RAM at gpa through the descriptors the VM sent, as the device would.
  std::optional<uint64_t> read_ram(Gpa gpa) const {
    std::lock_guard l(mu_);
    for (const auto& s : ram_) {
      if (!GpaRange{s.gpa, s.size}.contains(gpa, 8)) continue;
      uint64_t v;
      const auto at = static_cast<off_t>(s.fd_offset + (gpa - s.gpa));
      return ::pread(s.fd.get(), &v, sizeof v, at) == sizeof v ? std::optional(v) : std::nullopt;
    }
    return std::nullopt;
  }
  std::vector<std::pair<Gpa, uint64_t>> ram_map() const {
    std::lock_guard l(mu_);
    std::vector<std::pair<Gpa, uint64_t>> out;
    for (const auto& s : ram_) out.emplace_back(s.gpa, s.size);
    return out;
  }
  void drop_ram() { std::lock_guard l(mu_); ram_.clear(); }

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> regs_;
  std::vector<Access> accesses_;
  std::vector<RamSection> ram_;
  int resets_ = 0;
  int ram_updates_ = 0;
};

// A session on one end of a socketpair, a fake QEMU on the other, and how the session ended.
struct Vm {
  FakeEndpoint device;
  IntxLine intx;
  std::promise<Detach> detached;
  std::shared_future<Detach> ended = detached.get_future().share();
  std::unique_ptr<FakeQemu> qemu;
  std::unique_ptr<ProxySession> session;

  explicit Vm(std::string name = "vm", std::chrono::milliseconds reply_timeout = std::chrono::seconds(10)) {
    auto [ours, theirs] = socket_pair();
    qemu = std::make_unique<FakeQemu>(std::move(theirs));
    serve(std::move(ours), std::move(name), reply_timeout);
  }
  // Serves a socket whose other end someone else holds (a real QEMU).
  Vm(UniqueFd ours, std::string name) { serve(std::move(ours), std::move(name), std::chrono::seconds(10)); }
  ~Vm() { session.reset(); }
  // How the session ended, waiting up to kHang.
  std::optional<Detach> end() {
    if (ended.wait_for(kHang) != std::future_status::ready) return std::nullopt;
    return ended.get();
  }

 private:
  void serve(UniqueFd ours, std::string name, std::chrono::milliseconds reply_timeout) {
    ProxySession::Options o;
    o.name = std::move(name);
    o.reply_timeout = reply_timeout;
    o.on_detach = [this](const Detach& d) { detached.set_value(d); };
    session = std::make_unique<ProxySession>(std::move(ours), device, intx, std::move(o));
    session->start();
  }
};

}  // namespace vgd::remote::test
