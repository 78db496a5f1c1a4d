// The real thing: qemu-system-x86_64 with `-device x-pci-proxy-dev,fd=N` and no guest kernel,
// only its BIOS (docs/vm.md). QEMU's start-up sequence reaches our session, SeaBIOS enumerates
// the device and places BAR0, a read through the monitor at BAR0's guest-physical address
// reaches the device at its BAR offset, and QEMU quitting detaches the device. Skipped, with the
// reason, where QEMU is not installed.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <string>

#include "remote_support.h"

extern char** environ;

namespace vgd::remote::test {
namespace {

std::optional<std::string> find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t at = 0; at <= dirs.size();) {
    const size_t end = std::min(dirs.find(':', at), dirs.size());
    const std::string candidate = dirs.substr(at, end - at) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    at = end + 1;
  }
  return std::nullopt;
}

// A QEMU process given one end of a socketpair as its descriptor 3; killed if still running.
class QemuProcess {
 public:
  QemuProcess(const std::string& binary, std::vector<std::string> args, int proxy_fd, const std::string& log) {
    args.insert(args.begin(), binary);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, proxy_fd, 3);  // dup2 clears close-on-exec
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (::posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~QemuProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  bool started() const { return pid_ > 0; }
  // Waits for the process to exit by itself (up to kHang).
  bool exited() {
    return eventually([&] {
      if (::waitpid(pid_, nullptr, WNOHANG) != pid_) return false;
      pid_ = -1;
      return true;
    });
  }

 private:
  pid_t pid_ = -1;
};

// A QMP connection: one command at a time, events skipped.
class Qmp {
 public:
  explicit Qmp(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    eventually([&] {
      sock_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      return ::connect(sock_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    });
    line();  // the greeting
    execute(R"({"execute": "qmp_capabilities"})");
  }
  nlohmann::json execute(const std::string& command) {
    const std::string c = command + "\n";
    if (::send(sock_.get(), c.data(), c.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(c.size())) return {};
    for (;;) {
      const auto l = line();
      if (l.empty()) return {};
      auto j = nlohmann::json::parse(l, nullptr, false);
      if (j.contains("return") || j.contains("error")) return j;
    }
  }
  std::string hmp(const std::string& command) {
    const auto j = execute(nlohmann::json{{"execute", "human-monitor-command"},
                                          {"arguments", {{"command-line", command}}}}.dump());
    return j.contains("return") ? j["return"].get<std::string>() : j.dump();
  }

 private:
  std::string line() {
    std::string out;
    char c;
    pollfd p{sock_.get(), POLLIN, 0};
    while (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kHang).count())) == 1 &&
           ::recv(sock_.get(), &c, 1, 0) == 1) {
      if (c == '\n') return out;
      out += c;
    }
    return {};
  }
  UniqueFd sock_;
};

TEST(RealQemu, BiosEnumeratesTheDeviceAndBarReadsReachIt) {
  const auto qemu = find_in_path("qemu-system-x86_64");
  if (!qemu) GTEST_SKIP() << "qemu-system-x86_64 is not installed (Debian: apt-get install qemu-system-x86)";
  char dir_template[] = "/tmp/vgd-remote-vm-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::filesystem::path dir = dir_template;

  auto [ours, theirs] = socket_pair();
  Vm vm(std::move(ours), "real-qemu");
  QemuProcess process(*qemu,
                      {"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-accel", "tcg",
                       "-m", "64M", "-smp", "1", "-object", "memory-backend-memfd,id=mem,size=64M,share=on",
                       "-machine", "pc,memory-backend=mem", "-device", "x-pci-proxy-dev,id=vgpu0,fd=3",
                       "-qmp", "unix:" + (dir / "qmp.sock").string() + ",server=on,wait=off"},
                      theirs.get(), (dir / "qemu.log").string());
  ASSERT_TRUE(process.started());
  theirs.reset();  // QEMU holds its end now: when it exits, the session sees the socket close

  // Realize and machine reset: RAM, the eventfds, the ID probe, BAR sizing, DEVICE_RESET; then
  // SeaBIOS places BAR0 and turns on memory decoding.
  const auto counts = [&] { return vm.session->counters(); };
  ASSERT_TRUE(eventually([&] {
    const auto c = counts();
    return c.bar0_base != 0 && c.messages[static_cast<int>(mq::Command::DeviceReset)] > 0;
  })) << "the BIOS did not place BAR0; QEMU's log is in " << dir;
  EXPECT_GE(counts().ram_updates, 1u);
  EXPECT_GE(counts().messages[static_cast<int>(mq::Command::SetIrqfd)], 1u);
  EXPECT_NE(vm.intx.resample_fd(), -1);
  for (const auto& [gpa, size] : vm.device.ram_map()) {
    EXPECT_LE(gpa.value() + size, 64u << 20) << "RAM beyond the guest's 64 MiB";
  }

  // The monitor reads guest-physical memory the way a CPU would: through the proxy's BAR. The
  // vCPU is paused first: QEMU 7.2's proxy can deadlock when two of its threads access the
  // device at once (docs/vm.md, Limits).
  Qmp qmp((dir / "qmp.sock").string());
  qmp.execute(R"({"execute": "stop"})");
  const uint64_t pvinfo = counts().bar0_base + 0x78000;
  const std::string shown = qmp.hmp(fmt::format("xp /1wx {:#x}", pvinfo));
  EXPECT_NE(shown.find("0x00078000"), std::string::npos) << shown;  // FakeEndpoint's pattern
  const auto accesses = vm.device.accesses();
  ASSERT_FALSE(accesses.empty());
  EXPECT_EQ(accesses.back(), (FakeEndpoint::Access{false, 0x78000, 4, 0xc0de000000078000}));
  EXPECT_EQ(counts().malformed, 0u);

  qmp.execute(R"({"execute": "quit"})");
  const auto d = vm.end();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, DetachReason::PeerClosed) << d->detail;
  EXPECT_TRUE(process.exited());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vgd::remote::test
