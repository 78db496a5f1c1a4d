// Connection slots (docs/security.md §3, docs/config.md "Connection slots"): a connection that
// sends no Hello within hello_timeout_ms is closed and counted, one that sent Hello may idle;
// one uid holds at most max_clients_per_uid connections (the daemon's own process aside) while
// other uids still get in. Connections of other processes are made by forked children, which
// hand them back over a socketpair: the kernel keeps the credentials of who connected.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "daemon_support.h"
#include "proto/packet.h"
#include "server/server.h"
#include "util/fd_passing.h"

namespace vgd {
namespace {

using proto::MsgType;
using test::Conn;
using Turn = server::Server::Turn;

constexpr uint32_t kOtherUid = 65534;  // and its group, which then owns the socket file

// True when the daemon closed `fd` (a read says end of file) within 10 s.
bool closed_by_daemon(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10'000) != 1) return false;
  char b = 0;
  return ::recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

// A connection to `path` made by a child process (its own pid), as `uid` when given (root
// only), handed back to us. The child only makes system calls: it is a fork of a process whose
// daemon threads are running, and may hold locks no child could take.
UniqueFd connect_as(const std::string& path, std::optional<uint32_t> uid = std::nullopt) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) return {};
  UniqueFd mine(sv[0]), theirs(sv[1]);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size());
  const pid_t child = ::fork();
  if (child == 0) {
    if (uid && (::setgroups(0, nullptr) != 0 || ::setresgid(*uid, *uid, *uid) != 0 || ::setresuid(*uid, *uid, *uid) != 0))
      ::_exit(1);
    const int s = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0 || ::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) ::_exit(2);
    char byte = 'c';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &s, sizeof s);
    ::_exit(::sendmsg(theirs.get(), &m, 0) == 1 ? 0 : 3);
  }
  theirs.reset();
  int status = -1;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the child failed (1: becoming uid " << uid.value_or(0) << ", 2: connect, 3: handing it back): " << status;
  std::byte b[1];
  std::vector<UniqueFd> fds;
  (void)recv_with_fds(mine.get(), b, MSG_DONTWAIT, 1, fds);
  return fds.empty() ? UniqueFd() : std::move(fds[0]);
}

DaemonConfig one_vgpu() {
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};
  return cfg;
}

// A connection that never sends Hello gives its slot back after the deadline, counted; a client
// that sent Hello keeps its connection however long it idles. max_clients = 2: the slot a
// silent connection held is what the next one gets.
TEST(HelloDeadline, ASilentConnectionIsClosedAndCountedAGreetedOneMayIdle) {
  test::RunningDaemon daemon;
  daemon.start(one_vgpu(), "hello-deadline", {.max_clients = 2, .hello_timeout_ms = 200});
  Conn first_silent(daemon.path);
  Conn greeted(daemon.path);
  greeted.hello();
  EXPECT_TRUE(closed_by_daemon(first_silent.fd.get())) << "not closed within 10 s of a 200 ms deadline";
  // Connected after `greeted` sent Hello: once it is closed, `greeted` has idled past its own deadline.
  Conn last_silent(daemon.path);
  EXPECT_TRUE(closed_by_daemon(last_silent.fd.get())) << "the freed slot's next holder was not closed";
  EXPECT_TRUE(Conn::ok(greeted.call(MsgType::List))) << "a greeted client was closed for idling";
  Conn next(daemon.path);
  next.hello();  // a slot is free again: the silent ones held none after their deadline
  const server::ServerStats st = daemon.srv->stats();
  EXPECT_EQ(st.hello_timeouts, 2u);
  EXPECT_EQ(st.refused_connections, 0u);
  EXPECT_EQ(st.connections, 4u);
}

// The timer is armed only while a client is ungreeted: with every client greeted (or gone), a
// turn of the loop waits out its whole timeout, well past the deadline, with nothing to do.
TEST(HelloDeadline, TheLoopSleepsWhenEveryClientHasGreeted) {
  auto host = server::Host::create(one_vgpu());
  ASSERT_TRUE(host.has_value()) << host.error();
  const std::string path = fmt::format("{}/vgd-hello-turns-{}.sock", ::testing::TempDir(), ::getpid());
  auto srv = server::Server::create(**host, {.socket_path = path, .handle_signals = false, .hello_timeout_ms = 300});
  ASSERT_TRUE(srv.has_value()) << srv.error();
  server::Server& s = **srv;
  Conn greeted(path);
  ASSERT_EQ(s.serve_pending(10'000), Turn::Served);  // accepted (its deadline armed)
  proto::Packet hello = proto::make_packet(static_cast<uint16_t>(MsgType::Hello), 1, 0);
  hello.append(proto::HelloRequest{});
  ASSERT_TRUE(proto::send_packet(greeted.fd.get(), hello));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  // Serves the Hello (or the timer, had the client been too slow: then the test fails below).
  while (s.serve_pending(100) == Turn::Served && std::chrono::steady_clock::now() < deadline) {
  }
  ASSERT_TRUE(Conn::ok(greeted.receive()));
  EXPECT_EQ(s.serve_pending(1000), Turn::Idle) << "woken with every client greeted";

  Conn silent(path);
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    s.serve_pending(100);
    pollfd p{silent.fd.get(), POLLIN, 0};
    closed = ::poll(&p, 1, 0) == 1;
  }
  ASSERT_TRUE(closed_by_daemon(silent.fd.get()));
  EXPECT_EQ(s.stats().hello_timeouts, 1u);
  EXPECT_EQ(s.serve_pending(1000), Turn::Idle) << "woken after the last ungreeted client went";
}

// hello_timeout_ms = 0 here and below: a connection's end can only be a refusal.
TEST(PerUidCap, AThirdConnectionOfAUidIsRefusedTheDaemonsOwnAreNotCounted) {
  test::RunningDaemon daemon;
  daemon.start(one_vgpu(), "per-uid", {.hello_timeout_ms = 0, .max_clients_per_uid = 2});
  Conn a(connect_as(daemon.path)), b(connect_as(daemon.path)), c(connect_as(daemon.path));
  ASSERT_TRUE(a.fd && b.fd && c.fd);
  EXPECT_TRUE(closed_by_daemon(c.fd.get())) << "a third connection of uid " << ::geteuid() << " was let in";
  a.hello();
  b.hello();
  EXPECT_TRUE(Conn::ok(a.call(MsgType::List)));
  // The daemon's own process (its viewers connect like this): same uid, never capped.
  std::vector<std::unique_ptr<Conn>> own;
  for (int i = 0; i < 4; ++i) {
    own.push_back(std::make_unique<Conn>(daemon.path));
    own.back()->hello();
  }
  EXPECT_EQ(daemon.srv->stats().uid_refused_connections, 1u);
  EXPECT_EQ(daemon.srv->stats().refused_connections, 0u) << "counted as a max_clients refusal";
  // A connection that goes gives its uid the slot back.
  a.fd.reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (daemon.srv->stats().disconnects == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(daemon.srv->stats().disconnects, 1u) << "the daemon did not see a connection end within 10 s";
  Conn d(connect_as(daemon.path));
  d.hello();
}

TEST(PerUidCap, AnotherUidStillConnectsAndIsServed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: a child becomes uid " << kOtherUid << " (setresuid)";
  test::RunningDaemon daemon;
  daemon.start(one_vgpu(), "per-uid-other",
               {.socket_group = kOtherUid, .hello_timeout_ms = 0, .max_clients_per_uid = 2});
  Conn a(connect_as(daemon.path)), b(connect_as(daemon.path)), c(connect_as(daemon.path));
  EXPECT_TRUE(closed_by_daemon(c.fd.get())) << "a third connection of root was let in";
  Conn other(connect_as(daemon.path, kOtherUid));
  ASSERT_TRUE(other.fd);
  other.hello();
  EXPECT_TRUE(Conn::ok(other.call(MsgType::List)));
  a.hello();
  b.hello();
  EXPECT_EQ(daemon.srv->stats().uid_refused_connections, 1u);
}

}  // namespace
}  // namespace vgd
