#include "lease.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "client/connection.h"

namespace vgd::ctl {
namespace {

int fail(const std::string& msg) {
  fmt::print(stderr, "vgpuctl: {}\n", msg);
  return 1;
}

// In the child: the lease at kLeaseFd (without close-on-exec), then the command.
[[noreturn]] void exec_with_lease(int lease_fd, uint32_t lessee, const std::vector<std::string>& command,
                                  const sigset_t& blocked) {
  if (lease_fd != kLeaseFd ? ::dup2(lease_fd, kLeaseFd) < 0 : ::fcntl(lease_fd, F_SETFD, 0) != 0) {
    fmt::print(stderr, "vgpuctl: lease fd to {}: {}\n", kLeaseFd, std::strerror(errno));
    ::_exit(127);
  }
  ::setenv(kLeaseFdEnv, std::to_string(kLeaseFd).c_str(), 1);
  ::setenv("VGPU_LESSEE", std::to_string(lessee).c_str(), 1);
  pthread_sigmask(SIG_UNBLOCK, &blocked, nullptr);
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  fmt::print(stderr, "vgpuctl: cannot run {}: {}\n", command[0], std::strerror(errno));
  ::_exit(127);
}

}  // namespace

int run_lease(const std::string& socket, const std::string& output, const std::vector<std::string>& command) {
  if (command.empty()) return fail("lease: no command to run (vgpuctl lease OUTPUT -- COMMAND ARGS...)");
  sigset_t sigs;  // blocked before the child exists, so none is lost; the child unblocks them
  sigemptyset(&sigs);
  for (int s : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  auto c = client::Connection::connect(socket, "vgpuctl lease");
  if (!c) return fail(c.error().message);
  if (!(c->server().features & proto::kFeatureLease)) return fail("this vgpud cannot lease outputs (no host display, or too old)");
  auto lease = c->lease_output(output);
  if (!lease) return fail(fmt::format("lease of {}: {}", output, lease.error().message));
  fmt::print(stderr, "vgpuctl: {} leased (lessee {}, CRTC {}, {} planes) to {} as fd {}\n", output, lease->lessee,
             lease->crtc, lease->planes, command[0], kLeaseFd);
  const pid_t child = ::fork();
  if (child < 0) return fail(fmt::format("fork: {}", std::strerror(errno)));
  if (child == 0) exec_with_lease(lease->fd.get(), lease->lessee, command, sigs);
  lease->fd.reset();  // the child's copy is the lessee's; ours would outlive it
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) {
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      fmt::print(stderr, "vgpuctl: {} ended ({}); the lease of {} ends\n", command[0], code, output);
      return code;  // the connection closes on return: vgpud revokes the lease
    }
    if (done < 0 && errno != EINTR) return fail(fmt::format("waitpid: {}", std::strerror(errno)));
    const timespec wait{1, 0};
    const int sig = ::sigtimedwait(&sigs, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) ::kill(child, sig);
  }
}

}  // namespace vgd::ctl
