// The guest's serial console as a shell the test types at (the image's vgpu.shell=1, docs/vm.md,
// The guest image): QEMU serves the console on a UNIX socket, this connects to it, keeps reading
// what the guest prints (so that the guest never waits for the console), sends lines and waits
// for patterns. Commands are framed by markers the shell prints, so their output is exactly
// what they printed, whatever the shell echoes or the kernel logs around them.
#pragma once

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "util/unique_fd.h"

namespace vgd::test {

class SerialShell {
 public:
  struct Result {
    int status = -1;     // the command's exit status ($?)
    std::string output;  // what it printed, "\r\n" as "\n"
  };

  // Connects to QEMU's console socket at `path` (QEMU waits for us with wait=on), trying for up
  // to `limit` while QEMU starts.
  SerialShell(const std::string& path, std::chrono::seconds limit) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        sock_ = std::move(fd);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (sock_.get() >= 0) reader_ = std::thread([this] { drain(); });
  }
  SerialShell(const SerialShell&) = delete;
  SerialShell& operator=(const SerialShell&) = delete;
  ~SerialShell() {
    stop_ = true;
    if (reader_.joinable()) reader_.join();
  }
  bool connected() const { return sock_.get() >= 0; }

  // Sends `line` and a newline, as if typed.
  bool send_line(std::string_view line) {
    const std::string s = std::string(line) + "\n";
    return connected() && ::send(sock_.get(), s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Waits up to `limit` for a line printed after the last match (of this or run()) to match
  // `pattern`; answers that line (without its "\r\n") and moves past it, or nothing.
  std::optional<std::string> expect(const std::regex& pattern, std::chrono::seconds limit) {
    return wait(limit, [&](const std::string& text, size_t& end) -> std::optional<std::string> {
      for (size_t at = 0, eol; (eol = text.find('\n', at)) != std::string::npos; at = eol + 1) {
        std::string line = text.substr(at, eol - at);
        std::erase(line, '\r');
        if (std::regex_search(line, pattern)) {
          end = eol + 1;
          return line;
        }
      }
      return std::nullopt;
    });
  }
  // Runs `command` (one line, ending in no `&` or comment) in the shell and waits up to `limit`
  // for it to finish; nothing when it does not (the shell is gone or hangs). The markers are typed as VGD""BEGIN so that the shell's
  // echo of the line never contains what `echo` prints.
  std::optional<Result> run(std::string_view command, std::chrono::seconds limit) {
    const unsigned n = ++commands_;
    if (!send_line(fmt::format("echo VGD\"\"BEGIN{0}:; {1}; echo VGD\"\"END{0}: $?", n, command))) return std::nullopt;
    const std::string begin = fmt::format("VGDBEGIN{}:", n), finish = fmt::format("VGDEND{}: ", n);
    return wait(limit, [&](const std::string& text, size_t& end) -> std::optional<Result> {
      const size_t b = text.find(begin);
      const size_t f = b == std::string::npos ? b : text.find(finish, b);
      const size_t eol = f == std::string::npos ? f : text.find('\n', f);
      if (eol == std::string::npos) return std::nullopt;
      const size_t out = text.find('\n', b) + 1;
      Result r{std::atoi(text.c_str() + f + finish.size()), text.substr(out, f - std::min(out, f))};
      std::erase(r.output, '\r');
      end = eol + 1;
      return r;
    });
  }
  // Everything the console printed since the connection.
  std::string console() const {
    std::lock_guard l(mu_);
    return console_;
  }

 private:
  // Polls `found(text after the last match, end)` until it answers (setting `end`, where in the
  // text the next search starts), the console closes or `limit` passes.
  template <class Found>
  auto wait(std::chrono::seconds limit, Found found) -> decltype(found(std::string(), std::declval<size_t&>())) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
      {
        std::lock_guard l(mu_);
        size_t end = 0;
        if (auto r = found(console_.substr(consumed_), end)) {
          consumed_ += end;
          return r;
        }
        if (closed_ || std::chrono::steady_clock::now() > until) return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void drain() {
    char buf[4096];
    while (!stop_) {
      pollfd p{sock_.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      const ssize_t n = ::recv(sock_.get(), buf, sizeof buf, 0);
      std::lock_guard l(mu_);
      if (n <= 0) {
        closed_ = true;  // QEMU exited
        return;
      }
      console_.append(buf, static_cast<size_t>(n));
    }
  }

  UniqueFd sock_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::string console_;  // guarded by mu_, as are the two below
  size_t consumed_ = 0;
  bool closed_ = false;
  unsigned commands_ = 0;
};

}  // namespace vgd::test
