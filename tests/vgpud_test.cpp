// The vgpud binary as a user runs it: a bad configuration is refused with its line and key, a
// second daemon on the same socket is refused, and SIGTERM ends it cleanly.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace {

std::string temp(const std::string& name) { return fmt::format("{}vgpud_test_{}_{}", ::testing::TempDir(), ::getpid(), name); }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Starts vgpud with args, stderr to a file; returns its pid.
pid_t spawn(const std::string& args, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string cmd = fmt::format("exec {} {} 2>{}", VGPUD_PATH, args, log);
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Exit code, or -1 when it did not end within `limit` (then it is killed).
int wait_exit(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

bool wait_for_socket(const std::string& path) {
  for (int i = 0; i < 500; ++i) {
    if (std::filesystem::is_socket(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(Vgpud, BadConfigurationNamesLineAndKeyAndExitsNonZero) {
  const std::string cfg = temp("bad.toml"), log = temp("bad.log");
  std::ofstream(cfg) << "[[vgpu]]\nworkload = \"desktop\"\nrefresh = 60\n";
  EXPECT_EQ(wait_exit(spawn(fmt::format("--config {} --socket {}", cfg, temp("never.sock")), log)), 1);
  const std::string err = slurp(log);
  EXPECT_NE(err.find(cfg + ":3"), std::string::npos) << err;
  EXPECT_NE(err.find("vgpu.refresh"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(temp("never.sock")));
}

TEST(Vgpud, ServesUntilSigtermThenLeavesCleanly) {
  const std::string sock = temp("a.sock"), log = temp("a.log"), log2 = temp("b.log"), cfg = temp("any-port.toml");
  // The embedded defaults with the viewers on free ports (the fixed ones may be taken here).
  std::ofstream(cfg) << "[vnc]\nbase_port = 0\n[web]\nport = 0\n";
  const pid_t pid = spawn(fmt::format("--config {} --socket {}", cfg, sock), log);
  ASSERT_TRUE(wait_for_socket(sock)) << slurp(log);
  // A second daemon must not steal a live socket.
  EXPECT_EQ(wait_exit(spawn(fmt::format("--config {} --socket {}", cfg, sock), log2)), 1);
  EXPECT_NE(slurp(log2).find("another vgpud already serves"), std::string::npos) << slurp(log2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // guests running
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(wait_exit(pid), 0) << slurp(log);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("shutting down"), std::string::npos) << out;
  // What a person needs to look at the guests: the dashboard's URL and a VNC port per vGPU.
  EXPECT_NE(out.find("dashboard: http://127.0.0.1:"), std::string::npos) << out;
  for (int v = 1; v <= 3; ++v) EXPECT_NE(out.find(fmt::format("vgpu {}: VNC on 127.0.0.1:", v)), std::string::npos) << out;
  EXPECT_EQ(out.find("guest stopped"), std::string::npos) << "guests end with their frame, not with an error";
  EXPECT_FALSE(std::filesystem::exists(sock)) << "the socket file is removed on exit";
}

}  // namespace
