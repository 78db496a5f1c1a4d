// What the kms test rig's tests share (docs/vm.md, The kms test rig): the VM booted with a QEMU
// VNC server on a free display for each of virtio-gpu's two outputs, whether a tool is
// installed, and capturing an output with gvnccapture until it shows what a test expects.
#pragma once

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <functional>
#include <string>
#include <thread>

#include "fb/image.h"
#include "fb/png.h"
#include "vm_support.h"

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

// Boots the rig's VM: `opt` plus `gpu` (the -device) with QEMU's own VNC server on each of its
// two heads, displays `heads` free when chosen. Another process may take one before QEMU binds
// it (the machine is shared, tests run in parallel): QEMU then exits at once, and the VM is
// started again on other displays. The VM that reached /init, or the last try.
inline std::unique_ptr<Vm> boot_two_heads(const VmTools& tools, VmOptions opt, const std::string& gpu,
                                          const std::string& name, std::array<int, 2>& heads) {
  const std::vector<std::string> extra = opt.args;
  std::unique_ptr<Vm> vm;
  for (int attempt = 0; attempt < 5; ++attempt) {
    vm.reset();  // the next one reuses its directory
    heads[0] = free_vnc_display(40 + (::getpid() + 97 * attempt) % 400);
    heads[1] = free_vnc_display(heads[0]);
    opt.args = extra;
    for (const std::string& a : {std::string("-device"), gpu,
                                 std::string("-vnc"), fmt::format("127.0.0.1:{},id=head0,display=gpu,head=0", heads[0]),
                                 std::string("-vnc"), fmt::format("127.0.0.1:{},id=head1,display=gpu,head=1", heads[1])})
      opt.args.push_back(a);
    vm = std::make_unique<Vm>(tools, opt, name);
    if (vm->wait_for("vgpu-init:", std::chrono::seconds(300)) ||
        vm->qemu_log().find("Address already in use") == std::string::npos)
      return vm;
  }
  return vm;
}

// The rig's VM running `run` (/init's vgpu.run=) with its shell on the serial console (the
// program reads its go-on lines there), virtio-gpu's two heads at width x height.
inline std::unique_ptr<Vm> boot_rig(const VmTools& tools, const std::string& run, uint32_t width, uint32_t height,
                                    const std::string& name, std::array<int, 2>& heads) {
  VmOptions opt;
  opt.shell = true;
  opt.append = "vgpu.run=" + run;
  return boot_two_heads(tools, opt, fmt::format("virtio-gpu-pci,max_outputs=2,xres={},yres={},id=gpu", width, height),
                        name, heads);
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
