// Real QEMU VMs booting the guest image (docs/vm.md): find QEMU and the image, start a VM under
// TCG with its RAM in a memfd (what a vGPU process maps) and its serial console in a file (and,
// for a shell, on a socket: vm_shell.h), wait for lines on that console, and kill the VM on
// teardown. Tests skip, saying what is missing, when QEMU or the image (or its driver) is absent.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "vm_shell.h"

namespace vgd::test {

// The reserved RAM vgpu-guest draws into (docs/vm.md, Inside the VM): 64 MiB at 256 MiB, inside
// the VM's 512 MiB so that it never meets the PCI window the firmware puts above RAM.
inline constexpr std::string_view kGuestReservation = "64M$0x10000000";
inline constexpr uint64_t kVmMemoryMib = 512;

struct VmTools {
  std::string qemu, kernel, initrd;
  std::string missing;         // why a VM cannot run here; empty when it can
  std::string driver_missing;  // why the image has no vgpu_drm (no linux-headers); empty when it has
};

inline VmTools find_vm_tools() {
  VmTools t;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (t.qemu.empty() && !dirs.empty()) {
    const size_t colon = std::min(dirs.find(':'), dirs.size());
    const std::string candidate = fmt::format("{}/qemu-system-x86_64", dirs.substr(0, colon));
    if (::access(candidate.c_str(), X_OK) == 0) t.qemu = candidate;
    dirs.remove_prefix(std::min(colon + 1, dirs.size()));
  }
  const std::string dir = VGD_GUEST_IMAGE_DIR;
  t.kernel = dir + "/vmlinuz";
  t.initrd = dir + "/initramfs.cpio.gz";
  if (t.qemu.empty())
    t.missing = "qemu-system-x86_64 is not in PATH (scripts/install-deps installs qemu-system-x86)";
  else if (!std::filesystem::exists(t.kernel) || !std::filesystem::exists(t.initrd))
    t.missing = fmt::format("no guest image in {} (cmake --build build --target guest-image)", dir);
  // tools/guest-image/build.sh says whether it put the driver in: driver.txt or no-driver.txt.
  if (!std::filesystem::exists(dir + "/driver.txt")) {
    std::ifstream why(dir + "/no-driver.txt");
    std::getline(why, t.driver_missing);
    if (t.driver_missing.empty()) t.driver_missing = "the guest image was built without vgpu_drm";
    t.driver_missing = "no vgpu_drm in the guest image: " + t.driver_missing;
  }
  return t;
}

#define VGD_REQUIRE_VM(tools)                             \
  do {                                                    \
    if (!(tools).missing.empty()) GTEST_SKIP() << (tools).missing; \
  } while (0)

struct VmOptions {
  std::string append;               // kernel command line after console, quiet and the reservation
  std::vector<std::string> args;    // more QEMU arguments, e.g. -device x-pci-proxy-dev,fd=N
  std::vector<int> inherit_fds;     // fds QEMU keeps under the same numbers (for fd=N)
  std::string accel = "tcg";
  bool no_reboot = true;  // a reboot (guest or QMP system_reset) ends QEMU; false: it reboots
  // The serial console also on a socket this process types at (Vm::shell()); QEMU waits for the
  // connection before it starts the VM, so nothing the console prints is lost.
  bool shell = false;
  // Consoles before the serial one, which stays /dev/console: e.g. "console=tty0" to log to the
  // framebuffer console too.
  std::string consoles;
};

// One VM: started by the constructor, killed (if still running) by the destructor.
class Vm {
 public:
  Vm(const VmTools& tools, const VmOptions& opt, const std::string& name)
      : dir_(fmt::format("{}vm-{}-{}", ::testing::TempDir(), name, ::getpid())) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    serial_ = dir_ + "/serial.log";
    qmp_ = dir_ + "/qmp.sock";
    std::vector<std::string> argv = {
        tools.qemu, "-nodefaults", "-no-user-config", "-display", "none",
        "-accel", opt.accel, "-m", fmt::format("{}M", kVmMemoryMib), "-smp", "1",
        "-kernel", tools.kernel, "-initrd", tools.initrd,
        "-append", fmt::format("{} console=ttyS0 quiet panic=-1 memmap={} {}", opt.consoles, kGuestReservation, opt.append),
        "-qmp", fmt::format("unix:{},server=on,wait=off", qmp_),
        // Guest RAM in a memfd: what x-pci-proxy-dev hands a vGPU process (docs/vm.md).
        "-object", fmt::format("memory-backend-memfd,id=mem,size={}M,share=on", kVmMemoryMib),
        "-machine", "pc,memory-backend=mem"};
    if (opt.no_reboot) argv.push_back("-no-reboot");
    if (opt.shell) {
      argv.insert(argv.end(), {"-chardev", fmt::format("socket,id=console,path={}/serial.sock,server=on,wait=on,logfile={}", dir_, serial_),
                               "-serial", "chardev:console"});
    } else {
      argv.insert(argv.end(), {"-serial", "file:" + serial_});
    }
    argv.insert(argv.end(), opt.args.begin(), opt.args.end());
    const std::string log = dir_ + "/qemu.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(out, 2);
      for (int fd : opt.inherit_fds) ::fcntl(fd, F_SETFD, 0);  // survive the exec
      std::vector<char*> c;
      for (std::string& a : argv) c.push_back(a.data());
      c.push_back(nullptr);
      ::execv(c[0], c.data());
      ::_exit(127);
    }
    if (opt.shell) shell_ = std::make_unique<SerialShell>(dir_ + "/serial.sock", std::chrono::seconds(60));
  }
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;
  ~Vm() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    shell_.reset();
  }
  // The shell on the serial console (VmOptions::shell; the image's /init runs one for
  // vgpu.shell=1). Not connected when QEMU never listened.
  SerialShell& shell() { return *shell_; }

  // Waits until the serial console shows `text` (true) or QEMU exits or `limit` passes (false).
  bool wait_for(std::string_view text, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (serial().find(text) != std::string::npos) return true;
      if (reap()) return serial().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  // QEMU's exit status once it ends on its own (the guest powered off), or -1 after `limit`.
  int wait_exit(std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!reap() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return exited_ ? status_ : -1;
  }

  std::string serial() const { return slurp(serial_); }
  std::string qemu_log() const { return slurp(dir_ + "/qemu.log"); }
  // Both, for failure messages.
  std::string logs() const { return fmt::format("--- serial ---\n{}--- qemu ---\n{}", serial(), qemu_log()); }
  const std::string& qmp_path() const { return qmp_; }
  pid_t pid() const { return pid_; }

 private:
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bool reap() {
    int st = 0;
    if (!exited_ && pid_ > 0 && ::waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return exited_;
  }

  std::string dir_, serial_, qmp_;
  std::unique_ptr<SerialShell> shell_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = -1;
};

// One QMP command without arguments on the monitor at `path` (e.g. "system_reset"): the
// greeting, capabilities negotiation, then the command; true when it returned.
inline bool qmp(const std::string& path, std::string_view command) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), std::min(path.size(), sizeof a.sun_path - 1));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  std::string got;
  // Reads until a line holding `want` (events may come first), for up to 10 s.
  const auto read_until = [&](std::string_view want) {
    char buf[4096];
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ok && got.find(want) == std::string::npos && std::chrono::steady_clock::now() < until) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) ok = false;
      else got.append(buf, static_cast<size_t>(n));
    }
    ok = ok && got.find(want) != std::string::npos;
    got.clear();
  };
  const auto send = [&](const std::string& s) { ok = ok && ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()); };
  read_until("\"QMP\"");
  send("{\"execute\": \"qmp_capabilities\"}\n");
  read_until("\"return\"");
  send(fmt::format("{{\"execute\": \"{}\"}}\n", command));
  read_until("\"return\"");
  ::close(fd);
  return ok;
}

}  // namespace vgd::test
