// One VM's x-pci-proxy-dev connection (docs/vm.md): the socket QEMU's proxy device talks over,
// the device's PCI function, and the loop that turns QEMU's messages into config accesses,
// Endpoint calls and RET replies. Anything malformed, and any socket error, ends this session
// only, with the reason logged, counted and handed to the owner, who detaches the vGPU.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "remote/endpoint.h"
#include "remote/intx_line.h"
#include "remote/mpqemu_wire.h"
#include "remote/pci_function.h"
#include "util/unique_fd.h"

namespace vgd::remote {

enum class DetachReason : uint8_t {
  PeerClosed,    // QEMU closed its end (it exited, or the device was unplugged)
  SocketError,   // the socket failed
  Malformed,     // QEMU sent something that is not a valid message
  ReplyStalled,  // QEMU stopped reading our replies
  Stopped,       // the owner called stop()
};
inline constexpr size_t kDetachReasonCount = 5;
static_assert(static_cast<size_t>(DetachReason::Stopped) + 1 == kDetachReasonCount);
std::string_view reason_name(DetachReason r);

struct Detach {
  DetachReason reason;
  std::string detail;
};

struct SessionCounters {
  std::array<uint64_t, mpqemu::kCommandCount> messages{};  // by command number
  uint64_t malformed = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t ram_updates = 0;
  uint64_t bar_misses = 0;  // BAR accesses outside BAR0 or while decoding is off
  uint64_t bar0_base = 0;   // where BAR0 decodes; 0 while unassigned or decoding is off
  uint64_t function_resets = 0;  // FLRs the guest asked for through config space
};

class ProxySession {
 public:
  struct Options {
    std::string name = "vm";  // for the log
    PciIdentity identity{};
    uint64_t bar0_size = kBar0Size;
    // How long a reply may wait for room in the socket before QEMU counts as stalled.
    std::chrono::milliseconds reply_timeout{10'000};
    // Called once, on the session's thread, when it ends. Must not destroy the session unless
    // it is the last thing the callback does.
    std::function<void(const Detach&)> on_detach;
  };

  // `endpoint` and `intx` must outlive the session; the session connects `intx` to the eventfds
  // QEMU sends and disconnects it when it ends.
  ProxySession(UniqueFd socket, Endpoint& endpoint, IntxLine& intx, Options options);
  ~ProxySession();  // stop() and join
  ProxySession(const ProxySession&) = delete;
  ProxySession& operator=(const ProxySession&) = delete;

  // Runs run() on a thread of the session's own.
  void start();
  // The loop, for an owner that brings its own thread: returns when the session ends, after
  // calling on_detach.
  Detach run();
  // Asks the loop to end (any thread); the session then ends with Stopped.
  void stop();

  SessionCounters counters() const;

 private:
  struct Incoming;

  Detach loop();
  std::optional<Detach> receive(Incoming& in);
  std::optional<Detach> dispatch(const mpqemu::Message& m, std::vector<UniqueFd>& fds);
  uint64_t bar_access(const mpqemu::BarAccess& b);
  void reset_device();  // after the registers were reset
  std::optional<Detach> reply(uint64_t value);
  Detach malformed(std::string why);

  UniqueFd socket_;
  UniqueFd stop_;
  Endpoint& endpoint_;
  IntxLine& intx_;
  Options options_;
  PciFunction pci_;  // only the session's thread touches it
  std::thread thread_;

  std::array<std::atomic<uint64_t>, mpqemu::kCommandCount> messages_{};
  std::atomic<uint64_t> malformed_{0}, bytes_in_{0}, bytes_out_{0}, ram_updates_{0};
  std::atomic<uint64_t> bar_misses_{0}, bar0_base_{0}, function_resets_{0};
};

}  // namespace vgd::remote
