// Who may connect (docs/protocol.md §7): a real daemon and forked children that become other
// users before they connect, each seeing only the vGPUs its credentials admit it to.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "daemon_support.h"
#include "proto/packet.h"
#include "server/server.h"

namespace vgd {
namespace {

using proto::MsgType;
using proto::Status;

// The children's users (no names needed) and their primary group, which owns the socket file.
constexpr uint32_t kSocketGid = 65534;
constexpr uint32_t kStranger = 65532, kAllowed = 65534, kGroupie = 65531, kTrusted = 65533, kCrew = 4242;

// What a child saw, sent back through a pipe (the child runs no gtest).
struct Seen {
  int32_t step = 0;  // 0: all done; else where it stopped
  uint32_t hello_vgpus = 0, listed = 0, ids[8] = {};
  int32_t open[4] = {};  // Open of vGPUs 1..3: a Status
  int32_t attach = 0, outputs = 0;
  char message[200] = {};  // the error text of Open 1, when refused
};

int32_t status_of(const proto::Packet& r) {
  return r.header.type == proto::kError ? static_cast<int32_t>(proto::error_code(r)) : 0;
}

// In the child: become uid/gid with `groups`, then speak to the daemon as a consumer would.
Seen consume(const std::string& path, uint32_t uid, uint32_t gid, const std::vector<gid_t>& groups) {
  Seen s;
  s.step = 1;
  if (::setgroups(groups.size(), groups.data()) != 0 || ::setresgid(gid, gid, gid) != 0 || ::setresuid(uid, uid, uid) != 0)
    return s;
  s.step = 2;
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return s;
  uint32_t seq = 0;
  const auto call = [&](MsgType t, uint32_t vgpu, auto body) {
    proto::Packet p = proto::make_packet(static_cast<uint16_t>(t), ++seq, vgpu);
    if constexpr (!std::is_same_v<decltype(body), std::nullptr_t>) p.append(body);
    proto::Packet r;
    std::string why;
    pollfd in{fd.get(), POLLIN, 0};  // recv_packet does not wait
    if (!proto::send_packet(fd.get(), p) || ::poll(&in, 1, 5000) != 1 ||
        proto::recv_packet(fd.get(), r, why) != proto::RecvResult::Ok)
      r = proto::make_error(p.header, Status::Protocol, why.empty() ? "no reply" : why);
    return r;
  };
  s.step = 3;
  proto::Packet hello = call(MsgType::Hello, 0, proto::HelloRequest{});
  proto::HelloReply hr;
  if (hello.header.type == proto::kError || !hello.read(hr)) {
    std::strncpy(s.message, proto::error_text(hello).c_str(), sizeof s.message - 1);
    return s;
  }
  s.hello_vgpus = hr.vgpus;
  s.step = 4;
  proto::Packet list = call(MsgType::List, 0, nullptr);
  proto::ListReply lr;
  if (list.header.type == proto::kError || !list.read(lr)) return s;
  s.listed = lr.count;
  for (uint32_t i = 0; i < lr.count && i < 8; ++i) {
    proto::VgpuEntry e;
    if (list.read(e, sizeof lr + i * sizeof e)) s.ids[i] = e.id;
  }
  for (uint32_t v = 1; v <= 3; ++v) {
    proto::Packet r = call(MsgType::Open, v, nullptr);
    s.open[v] = status_of(r);
    if (v == 1 && s.open[v] != 0)
      std::strncpy(s.message, proto::error_text(r).c_str(), sizeof s.message - 1);
  }
  s.attach = status_of(call(MsgType::AttachVm, 3, nullptr));
  s.outputs = status_of(call(MsgType::ListOutputs, 0, nullptr));
  s.step = 0;
  return s;
}

class ServerAdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: the test's children become other users (setresuid)";
    DaemonConfig cfg;
    cfg.vgpus[0].access.allow_uids = std::vector<uint32_t>{kAllowed};
    cfg.vgpus[1].access.allow_gids = std::vector<uint32_t>{kCrew};
    cfg.vgpus[2].access.allow_uids = std::vector<uint32_t>{};  // nobody by uid, but:
    cfg.vgpus[2].access.trusted_uids = {kTrusted};
    daemon.start(cfg, "admission", {.socket_group = kSocketGid});
  }
  void TearDown() override { daemon.stop(); }

  Seen as(uint32_t uid, std::vector<gid_t> groups = {}) {
    int p[2];
    EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
    UniqueFd rd(p[0]), wr(p[1]);
    const pid_t child = ::fork();
    if (child == 0) {
      const Seen s = consume(daemon.path, uid, kSocketGid, groups);
      (void)!::write(wr.get(), &s, sizeof s);
      ::_exit(0);
    }
    wr.reset();
    Seen s;
    s.step = -1;
    EXPECT_EQ(::read(rd.get(), &s, sizeof s), static_cast<ssize_t>(sizeof s)) << "the child said nothing";
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_EQ(s.step, 0) << "uid " << uid << " stopped at step " << s.step
                         << " (1: dropping privileges, 2: connect, 3: Hello, 4: List): " << s.message;
    return s;
  }
  uint64_t denied() const { return daemon.srv->stats().denied; }

  test::RunningDaemon daemon;
};

TEST_F(ServerAdmissionTest, TheSocketFileBelongsToTheConfiguredGroup) {
  struct stat st {};
  ASSERT_EQ(::lstat(daemon.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, kSocketGid);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(ServerAdmissionTest, AStrangerSeesNoVgpuAndIsRefusedCounted) {
  const uint64_t before = denied();
  const Seen s = as(kStranger);
  EXPECT_EQ(s.hello_vgpus, 0u);
  EXPECT_EQ(s.listed, 0u) << "the list shows only what the peer may open";
  for (int v = 1; v <= 3; ++v) EXPECT_EQ(s.open[v], static_cast<int32_t>(Status::Access)) << "vGPU " << v;
  EXPECT_STREQ(s.message, "vGPU 1: uid 65532 is not admitted (docs/security.md)");
  EXPECT_EQ(s.attach, static_cast<int32_t>(Status::Access));
  EXPECT_EQ(s.outputs, static_cast<int32_t>(Status::Access)) << "the host display is its administrator's";
  EXPECT_EQ(denied(), before + 5) << "three Opens, AttachVm and ListOutputs";
  EXPECT_EQ(daemon.srv->stats().untrusted_opens + daemon.srv->stats().trusted_opens, 0u);
}

TEST_F(ServerAdmissionTest, AllowUidsAdmitsThatUserToThatVgpuOnly) {
  const Seen s = as(kAllowed);
  EXPECT_EQ(s.hello_vgpus, 1u);
  ASSERT_EQ(s.listed, 1u);
  EXPECT_EQ(s.ids[0], 1u);
  EXPECT_EQ(s.open[1], 0);
  EXPECT_EQ(s.open[2], static_cast<int32_t>(Status::Access));
  EXPECT_EQ(s.open[3], static_cast<int32_t>(Status::Access));
  EXPECT_EQ(daemon.srv->stats().untrusted_opens, 1u) << "admitted, not trusted: copies of the planes only";
  EXPECT_EQ(daemon.srv->stats().trusted_opens, 0u);
}

TEST_F(ServerAdmissionTest, AllowGidsAdmitsMembersOfTheGroupBySupplementaryGroup) {
  const Seen s = as(kGroupie, {kCrew});
  ASSERT_EQ(s.listed, 1u);
  EXPECT_EQ(s.ids[0], 2u);
  EXPECT_EQ(s.open[1], static_cast<int32_t>(Status::Access));
  EXPECT_EQ(s.open[2], 0);
  const Seen without = as(kGroupie);
  EXPECT_EQ(without.listed, 0u) << "the same user without the group";
  EXPECT_EQ(without.open[2], static_cast<int32_t>(Status::Access));
}

TEST_F(ServerAdmissionTest, TrustedUidsGetTrustAndMayAttachAVm) {
  const Seen s = as(kTrusted);
  ASSERT_EQ(s.listed, 1u);
  EXPECT_EQ(s.ids[0], 3u);
  EXPECT_EQ(s.open[3], 0);
  EXPECT_EQ(daemon.srv->stats().trusted_opens, 1u);
  EXPECT_EQ(daemon.srv->stats().untrusted_opens, 0u);
  // Past admission: vGPU 3 runs a builtin guest, so there is no VM to attach.
  EXPECT_EQ(s.attach, static_cast<int32_t>(Status::Invalid));
  const Seen untrusted = as(kAllowed);
  EXPECT_EQ(untrusted.attach, static_cast<int32_t>(Status::Access)) << "not admitted to vGPU 3 at all";
}

// The daemon's own process (its VNC and dashboard viewers connect over the socket) and root.
TEST_F(ServerAdmissionTest, TheDaemonsOwnProcessIsTrustedEverywhere) {
  test::Conn c(daemon.path);
  c.hello();
  proto::Packet list = c.call(MsgType::List);
  proto::ListReply lr;
  ASSERT_TRUE(list.read(lr));
  EXPECT_EQ(lr.count, 3u);
  for (uint32_t v = 1; v <= 3; ++v) EXPECT_TRUE(test::Conn::ok(c.call(MsgType::Open, v))) << "vGPU " << v;
  EXPECT_EQ(daemon.srv->stats().trusted_opens, 3u);
  EXPECT_EQ(denied(), 0u);
}

}  // namespace
}  // namespace vgd
