// What the kms test rig's tests share (docs/vm.md, The kms test rig): a free VNC display for
// each of QEMU's outputs, whether a tool is installed, and capturing an output with gvnccapture
// until it shows what a test expects.
#pragma once

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "fb/image.h"
#include "fb/png.h"

namespace vgd::test {

// A VNC display number (port 5900 + n) nobody listens on now.
inline int free_vnc_display(int after) {
  for (int n = after + 1; n < 1000; ++n) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(5900 + n));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (ok) return n;
  }
  return -1;
}

inline bool in_path(const char* program) {
  return std::system(fmt::format("command -v {} >/dev/null 2>&1", program).c_str()) == 0;
}

// Captures VNC display `display` into dir/name.png until `differs` finds nothing wrong with the
// picture (it answers why not, or ""), for up to `bound` (QEMU's display follows the guest's
// flush asynchronously, and a VM under TCG is slow); answers what was wrong with the last capture.
inline std::string expect_capture(int display, const std::string& dir, const std::string& name,
                                  const std::function<std::string(const fb::Image&)>& differs,
                                  std::chrono::seconds bound = std::chrono::seconds(30)) {
  std::string why = "no capture";
  const auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    const std::string png = fmt::format("{}/{}.png", dir, name);
    if (std::system(fmt::format("timeout 20 gvnccapture -q 127.0.0.1:{} '{}'", display, png).c_str()) != 0) {
      why = "gvnccapture failed";
    } else if (auto img = fb::read_png(png); !img) {
      why = img.error();
    } else if (why = differs(*img); why.empty()) {
      return why;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return why;
}

}  // namespace vgd::test
