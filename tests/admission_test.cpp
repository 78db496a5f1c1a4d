// Who may consume a vGPU (server/admission.h, docs/protocol.md §7): the pure rule, case by case.
#include <gtest/gtest.h>

#include "server/admission.h"

namespace vgd::server {
namespace {

constexpr Self kSelf{100, 500};  // the daemon: pid 100, running as uid 500

struct Case {
  const char* name;
  ConsumerAccess access;
  Peer peer;
  Access want;
};

ConsumerAccess allow(std::optional<std::vector<uint32_t>> uids, std::optional<std::vector<uint32_t>> gids = std::nullopt) {
  ConsumerAccess a;
  a.allow_uids = std::move(uids), a.allow_gids = std::move(gids);
  return a;
}
ConsumerAccess trust(std::vector<uint32_t> uids, std::vector<uint32_t> gids = {}) {
  ConsumerAccess a;
  a.trusted_uids = std::move(uids), a.trusted_gids = std::move(gids);
  return a;
}

class Admission : public ::testing::TestWithParam<Case> {};

TEST_P(Admission, Decides) {
  const Case& c = GetParam();
  EXPECT_EQ(decide(c.access, c.peer, kSelf), c.want) << "got " << name(decide(c.access, c.peer, kSelf));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Admission,
    ::testing::Values(
        // No lists: the daemon's user and root, untrusted; anyone else is denied.
        Case{"default_daemon_uid", {}, {7, 500, 500, {}}, Access::Untrusted},
        Case{"default_root", {}, {7, 0, 0, {}}, Access::Untrusted},
        Case{"default_other", {}, {7, 1001, 1001, {}}, Access::Denied},
        // Our own process (the in-process VNC and dashboard viewers): trusted, whoever we run as.
        Case{"own_process", allow(std::vector<uint32_t>{}), {100, 500, 500, {}}, Access::Trusted},
        Case{"own_process_no_lists", {}, {100, 500, 500, {}}, Access::Trusted},
        // Allow lists replace the default: the daemon's uid and root are not admitted by being so.
        Case{"allowed_uid", allow(std::vector<uint32_t>{1001}), {7, 1001, 1001, {}}, Access::Untrusted},
        Case{"not_allowed_uid", allow(std::vector<uint32_t>{1001}), {7, 1002, 1002, {}}, Access::Denied},
        Case{"lists_exclude_root", allow(std::vector<uint32_t>{1001}), {7, 0, 0, {}}, Access::Denied},
        Case{"empty_list_admits_nobody", allow(std::vector<uint32_t>{}), {7, 500, 500, {}}, Access::Denied},
        Case{"allowed_supplementary_group", allow(std::nullopt, std::vector<uint32_t>{44}), {7, 1002, 1002, {3, 44}},
             Access::Untrusted},
        Case{"allowed_primary_group", allow(std::nullopt, std::vector<uint32_t>{1002}), {7, 1002, 1002, {}},
             Access::Untrusted},
        Case{"group_not_allowed", allow(std::nullopt, std::vector<uint32_t>{44}), {7, 1002, 1002, {3, 45}}, Access::Denied},
        Case{"uid_list_and_group", allow(std::vector<uint32_t>{1}, std::vector<uint32_t>{44}), {7, 9, 9, {44}},
             Access::Untrusted},
        // Trusted implies admitted, whatever the allow lists say.
        Case{"trusted_uid", trust({1003}), {7, 1003, 1003, {}}, Access::Trusted},
        Case{"trusted_group", trust({}, {55}), {7, 1003, 1003, {1, 55}}, Access::Trusted},
        Case{"trusted_beyond_allow", [] {
               ConsumerAccess a = trust({1003});
               a.allow_uids = std::vector<uint32_t>{1001};
               return a;
             }(),
             {7, 1003, 1003, {}}, Access::Trusted},
        Case{"trusted_lists_do_not_trust_others", trust({1003}, {55}), {7, 500, 500, {}}, Access::Untrusted},
        Case{"root_is_not_trusted_unless_listed", trust({1003}), {7, 0, 0, {}}, Access::Untrusted}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(Admission, HostAdminIsTheDaemonsUserOrRoot) {
  EXPECT_TRUE(host_admin(Peer{7, 0, 0, {}}, kSelf));
  EXPECT_TRUE(host_admin(Peer{7, 500, 1, {}}, kSelf));
  EXPECT_FALSE(host_admin(Peer{7, 1001, 0, {0}}, kSelf)) << "root's group is not root";
}

}  // namespace
}  // namespace vgd::server
