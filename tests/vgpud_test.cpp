// The vgpud binary as a user runs it: a bad configuration is refused with its line and key, a
// second daemon on the same socket is refused, and SIGTERM ends it cleanly. Its viewers are
// locked by default: it prints the dashboard's token URL and the VNC password it made up, and
// a configuration can turn either off (docs/viewers.md, "Access").
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <thread>
#include <utility>

#include "vnc_support.h"

namespace {

std::string temp(const std::string& name) { return fmt::format("{}vgpud_test_{}_{}", ::testing::TempDir(), ::getpid(), name); }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Starts vgpud with args, stderr to `log` and stdout to `log`.out; returns its pid.
pid_t spawn(const std::string& args, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string cmd = fmt::format("exec {} {} 2>{} >{}.out", VGPUD_PATH, args, log, log);
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

// The first match of `re`'s group 1 in `text` ("" when none).
std::string find(const std::string& text, const std::string& re) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(re)) ? m[1].str() : "";
}

// Waits for vgpud's stdout to say how to log in (it does once the viewers listen).
std::string login_lines(const std::string& log) {
  for (int i = 0; i < 1000; ++i) {
    const std::string out = slurp(log + ".out");
    if (out.find("VNC password: ") != std::string::npos) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return slurp(log + ".out");
}

// Kills and reaps the daemon if a failed assertion leaves the test early.
struct Reaper {
  pid_t pid;
  ~Reaper() {
    if (pid > 0) wait_exit(pid, std::chrono::seconds(0));
  }
  void stop() { ::kill(std::exchange(pid, -1), SIGTERM); }
};

int http_status(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  auto r = c.Get(path.c_str());
  return r ? r->status : -1;
}

// vgpud with `toml` as its configuration; its socket and log (temp(name + ".log")) named after `name`.
pid_t start_daemon(const std::string& name, const std::string& toml) {
  const std::string cfg = temp(name + ".toml");
  std::ofstream(cfg) << toml;
  return spawn(fmt::format("--config {} --socket {}", cfg, temp(name + ".sock")), temp(name + ".log"));
}

// vGPU 1's VNC port, from the daemon's log ("" when not there).
std::string vnc_port_in(const std::string& log) { return find(slurp(log), "vgpu 1: VNC on 127\\.0\\.0\\.1:([0-9]+)"); }

constexpr const char* kFreePorts = "[vnc]\nbase_port = 0\n[web]\nport = 0\n";

TEST(Vgpud, PrintsTheCredentialsItMadeUpAndTheViewersAskForThem) {
  const std::string log = temp("login.log");
  const pid_t pid = start_daemon("login", kFreePorts);
  Reaper reaper{pid};
  const std::string out = login_lines(log);
  const std::string url = find(out, "vgpud: dashboard: (http://127\\.0\\.0\\.1:[0-9]+/\\?token=[0-9a-f]{32}) ");
  const std::string password = find(out, "vgpud: VNC password: ([A-Za-z0-9]{8}) \\(made up at start");
  ASSERT_FALSE(url.empty()) << out;
  ASSERT_FALSE(password.empty()) << out;
  const std::string vnc = vnc_port_in(log);
  ASSERT_FALSE(vnc.empty()) << slurp(log);
  const int web_port = std::stoi(find(url, ":([0-9]+)/")), vnc_port = std::stoi(vnc);
  const std::string token = url.substr(url.find("token=") + 6);
  EXPECT_EQ(http_status(web_port, "/api/daemon"), 401);
  EXPECT_EQ(http_status(web_port, "/api/daemon?token=" + token), 200);
  EXPECT_EQ(vgd::test::offered_security(vnc_port), std::vector<uint8_t>{2}) << "VNC authentication only";
  EXPECT_TRUE(vgd::test::raw_rfb(vnc_port, 0, password)) << "the printed password opens it";
  EXPECT_EQ(slurp(log).find(token), std::string::npos) << "the log holds no secret";
  EXPECT_EQ(slurp(log).find(password), std::string::npos) << "the log holds no secret";
  reaper.stop();
  EXPECT_EQ(wait_exit(pid), 0) << slurp(log);
  // Another start, other credentials.
  const pid_t again = start_daemon("login2", kFreePorts);
  const std::string out2 = login_lines(temp("login2.log"));
  EXPECT_NE(out2.find("?token="), std::string::npos) << out2;
  EXPECT_EQ(out2.find(token), std::string::npos) << out2;
  ::kill(again, SIGTERM);
  EXPECT_EQ(wait_exit(again), 0);
}

TEST(Vgpud, AConfigurationMayTurnTheLocksOff) {
  const std::string log = temp("open.log");
  const pid_t pid = start_daemon("open", "[vnc]\nbase_port = 0\nauth = \"none\"\n[web]\nport = 0\nauth = \"none\"\n");
  Reaper reaper{pid};
  const std::string out = login_lines(log);
  EXPECT_NE(out.find("VNC password: none"), std::string::npos) << out;
  const std::string port = find(out, "vgpud: dashboard: http://127\\.0\\.0\\.1:([0-9]+)/ \\(no token");
  ASSERT_FALSE(port.empty()) << out;
  EXPECT_EQ(http_status(std::stoi(port), "/api/daemon"), 200);
  const std::string vnc = vnc_port_in(log);
  ASSERT_FALSE(vnc.empty()) << slurp(log);
  EXPECT_EQ(vgd::test::offered_security(std::stoi(vnc)), std::vector<uint8_t>{1}) << "no authentication";
  reaper.stop();
  EXPECT_EQ(wait_exit(pid), 0) << slurp(log);
}

}  // namespace
