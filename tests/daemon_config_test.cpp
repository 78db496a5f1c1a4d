// vgpud's configuration: embedded defaults, a full file, and errors that name the line and key.
#include <gtest/gtest.h>
#include <pwd.h>

#include <cstdlib>

#include "config/daemon_config.h"

namespace vgd {
namespace {

TEST(DaemonConfig, DefaultsAreThreeDemoVgpusWithViewersOnLoopback) {
  const DaemonConfig cfg;
  ASSERT_EQ(cfg.vgpus.size(), 3u);
  EXPECT_EQ(cfg.vgpus[0].workload, Workload::Desktop);
  EXPECT_EQ(cfg.vgpus[1].workload, Workload::Console);
  EXPECT_EQ(cfg.vgpus[2].workload, Workload::Video);
  EXPECT_TRUE(cfg.vnc.enabled);
  EXPECT_EQ(cfg.vnc.listen, "127.0.0.1");
  EXPECT_EQ(cfg.vnc.base_port, 5900u);
  EXPECT_TRUE(cfg.web.enabled);
  EXPECT_EQ(cfg.web.listen, "127.0.0.1");
  auto parsed = parse_daemon_config("", "empty.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error();
  EXPECT_EQ(parsed->vgpus.size(), 3u) << "an empty file keeps the defaults";
  EXPECT_EQ(parsed->hello_timeout_ms, 5000u);
  EXPECT_EQ(parsed->max_clients_per_uid, 16u);
}

TEST(DaemonConfig, ReadsGpuServerAndVgpus) {
  auto cfg = parse_daemon_config(R"(
[gpu]
aperture_mib = 1024
[[type]]
name = "small"
low_gm_mib = 32
high_gm_mib = 64
fences = 2
max_resolution = "1920x1080"
[server]
socket = "/tmp/x.sock"
max_clients = 8
hello_timeout_ms = 250
max_clients_per_uid = 3
[export]
idle_buffers = 4
udmabuf = false
[[vgpu]]
type = "small"
workload = "console"
mode = "1920x1080@59.94"
ram_mib = 64
tearing = "copy"
copy_budget_mib = 24
[[vgpu]]
type = "GVTg_V5_4"
workload = "modeswitch"
[[vgpu]]
tearing = "hold"
hold_frame = 30
)",
                                 "full.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->gpu.geometry.aperture_size, 1024ull << 20);
  EXPECT_EQ(cfg->socket, "/tmp/x.sock");
  EXPECT_EQ(cfg->max_clients, 8u);
  EXPECT_EQ(cfg->hello_timeout_ms, 250u);
  EXPECT_EQ(cfg->max_clients_per_uid, 3u);
  EXPECT_EQ(cfg->idle_buffers, 4u);
  EXPECT_FALSE(cfg->udmabuf);
  ASSERT_EQ(cfg->vgpus.size(), 3u);
  EXPECT_EQ(cfg->vgpus[0].type, "small");
  EXPECT_EQ(cfg->vgpus[0].workload, Workload::Console);
  EXPECT_EQ(cfg->vgpus[0].mode.pixel_khz, 148352u);
  EXPECT_EQ(cfg->vgpus[0].ram, 64ull << 20);
  EXPECT_EQ(cfg->vgpus[0].copy_budget, 24ull << 20);
  EXPECT_EQ(cfg->vgpus[1].type, "GVTg_V5_4");
  EXPECT_EQ(cfg->vgpus[1].workload, Workload::ModeSwitch);
  EXPECT_EQ(cfg->vgpus[2].type, "GVTg_V5_8") << "the default";
  EXPECT_EQ(cfg->vgpus[2].copy_budget, 0u) << "0: from the type";
  EXPECT_EQ(cfg->vgpus[0].tearing, TearingMode::Copy);
  EXPECT_EQ(cfg->vgpus[1].tearing, TearingMode::None) << "the default";
  EXPECT_EQ(cfg->vgpus[2].tearing, TearingMode::Hold);
  EXPECT_EQ(cfg->vgpus[0].hold_frame, 0u) << "the default: never";
  EXPECT_EQ(cfg->vgpus[2].hold_frame, 30u);
  EXPECT_EQ(DaemonConfig{}.vgpus[0].tearing, TearingMode::None);
}

// 0 turns each connection limit off (docs/config.md): no Hello deadline, no cap per uid.
TEST(DaemonConfig, ZeroTurnsTheHelloDeadlineAndThePerUidCapOff) {
  auto cfg = parse_daemon_config("[server]\nhello_timeout_ms = 0\nmax_clients_per_uid = 0\n", "off.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->hello_timeout_ms, 0u);
  EXPECT_EQ(cfg->max_clients_per_uid, 0u);
}

struct BadCase {
  const char* name;
  const char* toml;
  const char* where;  // "file:line"
  const char* what;   // the key or value named
};

class DaemonConfigError : public ::testing::TestWithParam<BadCase> {};

TEST_P(DaemonConfigError, NamesLineAndKey) {
  const BadCase& c = GetParam();
  auto cfg = parse_daemon_config(c.toml, "bad.toml");
  ASSERT_FALSE(cfg.has_value());
  EXPECT_NE(cfg.error().find(c.where), std::string::npos) << cfg.error();
  EXPECT_NE(cfg.error().find(c.what), std::string::npos) << cfg.error();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DaemonConfigError,
    ::testing::Values(BadCase{"unknown_top", "\n[srever]\nsocket = 'x'\n", "bad.toml:2", "srever"},
                      BadCase{"unknown_vgpu_key", "[[vgpu]]\nworkload = 'desktop'\nrefresh = 60\n", "bad.toml:3", "vgpu.refresh"},
                      BadCase{"bad_workload", "[[vgpu]]\n\nworkload = 'solitaire'\n", "bad.toml:3", "vgpu.workload"},
                      BadCase{"bad_mode", "[[vgpu]]\nmode = '800x600@60'\n", "bad.toml:2", "vgpu.mode"},
                      BadCase{"unknown_type", "[[vgpu]]\ntype = 'GVTg_V9'\n", "bad.toml:2", "GVTg_V9"},
                      BadCase{"bad_tearing", "[[vgpu]]\nworkload = 'desktop'\ntearing = 'triple'\n", "bad.toml:3", "vgpu.tearing"},
                      BadCase{"tearing_not_string", "[[vgpu]]\n\n\ntearing = true\n", "bad.toml:4", "vgpu.tearing"},
                      BadCase{"tiny_ram", "[[vgpu]]\nram_mib = 1\n", "bad.toml:2", "vgpu.ram_mib"},
                      BadCase{"bad_guest", "[[vgpu]]\nguest = 'kvm'\n", "bad.toml:2", "vgpu.guest"},
                      // A VM brings its own RAM and programs: these would be silently ignored.
                      BadCase{"vm_with_workload", "[[vgpu]]\nguest = 'qemu'\nworkload = 'video'\n", "bad.toml:3", "vgpu.workload"},
                      BadCase{"vm_with_ram", "[[vgpu]]\nguest = 'qemu'\n\nram_mib = 256\n", "bad.toml:4", "vgpu.ram_mib"},
                      BadCase{"vm_with_hold", "[[vgpu]]\nguest = 'qemu'\nhold_frame = 5\n", "bad.toml:3", "vgpu.hold_frame"},
                      // GVTg_V5_8 goes up to 1024x768: the guest's pipe would never light.
                      BadCase{"mode_beyond_type", "[[vgpu]]\n\nmode = '1920x1080@60'\n", "bad.toml:3", "vgpu.mode"},
                      BadCase{"modeswitch_beyond_type", "[[vgpu]]\nworkload = 'modeswitch'\n", "bad.toml:2", "vgpu.workload"},
                      BadCase{"budget_without_copy", "[[vgpu]]\ncopy_budget_mib = 16\n", "bad.toml:2", "vgpu.copy_budget_mib"},
                      BadCase{"zero_budget", "[[vgpu]]\ntearing = 'copy'\ncopy_budget_mib = 0\n", "bad.toml:3", "vgpu.copy_budget_mib"},
                      BadCase{"wrong_type", "[server]\nmax_clients = 'many'\n", "bad.toml:2", "server.max_clients"},
                      BadCase{"hello_timeout_string", "[server]\n\nhello_timeout_ms = '5s'\n", "bad.toml:3",
                              "server.hello_timeout_ms"},
                      BadCase{"hello_timeout_negative", "[server]\nhello_timeout_ms = -1\n", "bad.toml:2", "server.hello_timeout_ms"},
                      BadCase{"per_uid_float", "[server]\nmax_clients_per_uid = 2.5\n", "bad.toml:2", "server.max_clients_per_uid"},
                      BadCase{"per_uid_negative", "[server]\n\nmax_clients_per_uid = -4\n", "bad.toml:3",
                              "server.max_clients_per_uid"},
                      // Consumers (docs/config.md): an unknown name is an error where it is written.
                      BadCase{"unknown_user", "[[vgpu]]\nallow_uids = [0,\n 'no-such-user-here']\n", "bad.toml:3",
                              "no user named 'no-such-user-here'"},
                      BadCase{"unknown_group", "[[vgpu]]\ntrusted_gids = ['no-such-group-here']\n", "bad.toml:2",
                              "vgpu.trusted_gids: no group named"},
                      BadCase{"uids_not_array", "[[vgpu]]\nallow_uids = 1000\n", "bad.toml:2", "vgpu.allow_uids must be an array"},
                      BadCase{"negative_uid", "[[vgpu]]\ntrusted_uids = [-1]\n", "bad.toml:2", "vgpu.trusted_uids"},
                      BadCase{"uid_is_bool", "[[vgpu]]\nallow_gids = [true]\n", "bad.toml:2", "vgpu.allow_gids"},
                      BadCase{"unknown_socket_group", "[server]\n\nsocket_group = 'no-such-group-here'\n", "bad.toml:3",
                              "server.socket_group: no group named"},
                      BadCase{"no_idle_buffers", "[export]\nidle_buffers = 0\n", "bad.toml:2", "export.idle_buffers"},
                      BadCase{"vnc_port_too_high", "[vnc]\n\nbase_port = 65300\n", "bad.toml:3", "vnc.base_port"},
                      BadCase{"vnc_unknown_key", "[vnc]\nport = 5900\n", "bad.toml:2", "vnc.port"},
                      BadCase{"web_port_too_high", "[web]\nport = 70000\n", "bad.toml:2", "web.port"},
                      BadCase{"web_not_table", "web = 8080\n", "bad.toml:1", "web"},
                      // Access (docs/viewers.md): a secret beside auth = "none" would be ignored.
                      BadCase{"vnc_auth_typo", "[vnc]\nauth = 'off'\n", "bad.toml:2", "vnc.auth"},
                      BadCase{"vnc_password_unused", "[vnc]\nauth = 'none'\npassword = 'x'\n", "bad.toml:3", "vnc.password"},
                      BadCase{"web_token_unused", "[web]\nauth = 'none'\n\ntoken = 'x'\n", "bad.toml:4", "web.token"},
                      BadCase{"web_hosts_not_list", "[web]\nallowed_hosts = 'box'\n", "bad.toml:2", "web.allowed_hosts"},
                      BadCase{"web_hosts_not_strings", "[web]\nallowed_hosts = ['a', 2]\n", "bad.toml:2", "web.allowed_hosts"},
                      BadCase{"metrics_auth_typo", "[web]\nmetrics_auth = false\n", "bad.toml:2", "web.metrics_auth"},
                      BadCase{"syntax", "[[vgpu]\n", "bad.toml:1", ""},
                      // Direct flip (docs/config.md, "Direct flip").
                      BadCase{"bad_backend", "[host_display]\nbackend = 'wayland'\n", "bad.toml:2", "host_display.backend"},
                      BadCase{"kms_without_card", "[host_display]\nbackend = 'kms'\n", "bad.toml:1", "card"},
                      BadCase{"kms_card_and_lease", "[host_display]\nbackend = 'kms'\ncard = '/dev/dri/card0'\nlease_fd = 5\n",
                              "bad.toml:1", "not both"},
                      BadCase{"kms_relative_card", "[host_display]\nbackend = 'kms'\ncard = 'card0'\n", "bad.toml:3", "host_display.card"},
                      BadCase{"lease_is_stdio", "[host_display]\nbackend = 'kms'\nlease_fd = 1\n", "bad.toml:3", "host_display.lease_fd"},
                      BadCase{"card_on_virtual", "[host_display]\ncard = '/dev/dri/card0'\n", "bad.toml:2", "host_display.card"},
                      BadCase{"outputs_on_kms", "[host_display]\nbackend = 'kms'\ncard = '/dev/dri/card0'\noutputs = []\n",
                              "bad.toml:4", "host_display.outputs"},
                      BadCase{"misnamed_output", "[host_display]\noutputs = [{ name = 'HDMI-A-1' }]\n", "bad.toml:2",
                              "host_display.outputs[0].name must be Virtual-1"},
                      BadCase{"tiny_output", "[host_display]\noutputs = [{ width = 10, height = 10 }]\n", "bad.toml:2",
                              "width and height"},
                      BadCase{"output_refresh", "[host_display]\n\noutputs = [{ refresh_hz = 0 }]\n", "bad.toml:3",
                              "refresh_hz"},
                      BadCase{"output_typo", "[host_display]\noutputs = [{ widht = 800 }]\n", "bad.toml:2",
                              "host_display.outputs[0].widht"},
                      BadCase{"no_outputs", "[host_display]\noutputs = []\n", "bad.toml:2", "host_display.outputs"},
                      BadCase{"direct_flip_not_table", "[[vgpu]]\ndirect_flip = 'Virtual-1'\n", "bad.toml:2", "vgpu.direct_flip"},
                      BadCase{"direct_flip_no_output", "[[vgpu]]\ndirect_flip = { pipe = 'A' }\n", "bad.toml:2",
                              "vgpu.direct_flip.output"},
                      BadCase{"direct_flip_bad_pipe", "[[vgpu]]\ndirect_flip = { output = 'Virtual-1', pipe = 'D' }\n",
                              "bad.toml:2", "vgpu.direct_flip.pipe"},
                      BadCase{"direct_flip_unknown_output", "[[vgpu]]\ndirect_flip = { output = 'Virtual-3' }\n", "bad.toml:2",
                              "Virtual-3 is not an output"},
                      BadCase{"direct_flip_output_taken",
                              "[[vgpu]]\ndirect_flip = { output = 'Virtual-1' }\n[[vgpu]]\ndirect_flip = { output = 'Virtual-1' }\n",
                              "bad.toml:4", "already vGPU 1's"}),
    [](const auto& p) { return std::string(p.param.name); });

// Who may consume each vGPU (docs/config.md "Consumers"): ids or names, resolved at load.
TEST(DaemonConfig, ReadsConsumerAccessByIdOrName) {
  auto cfg = parse_daemon_config(R"(
[server]
socket_group = "root"
[[vgpu]]
allow_uids = [1000, "nobody"]
allow_gids = ["root"]
trusted_uids = ["root"]
trusted_gids = [27]
[[vgpu]]
allow_uids = []
)",
                                 "access.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->socket_group, 0u);
  ASSERT_EQ(cfg->vgpus.size(), 2u);
  const ConsumerAccess& a = cfg->vgpus[0].access;
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr) << "this host has no user nobody";
  EXPECT_EQ(a.allow_uids, (std::vector<uint32_t>{1000, nobody->pw_uid}));
  EXPECT_EQ(a.allow_gids, (std::vector<uint32_t>{0}));
  EXPECT_EQ(a.trusted_uids, (std::vector<uint32_t>{0}));
  EXPECT_EQ(a.trusted_gids, (std::vector<uint32_t>{27}));
  const ConsumerAccess& b = cfg->vgpus[1].access;
  ASSERT_TRUE(b.allow_uids.has_value()) << "an empty list is given: nobody is admitted by uid";
  EXPECT_TRUE(b.allow_uids->empty());
  EXPECT_FALSE(b.allow_gids.has_value());
  EXPECT_TRUE(b.trusted_uids.empty());
  auto plain = parse_daemon_config("[[vgpu]]\n", "plain.toml");
  ASSERT_TRUE(plain.has_value()) << plain.error();
  EXPECT_FALSE(plain->socket_group.has_value());
  EXPECT_FALSE(plain->vgpus[0].access.allow_uids || plain->vgpus[0].access.allow_gids) << "none given: the daemon's uid and root";
}

TEST(DaemonConfig, DirectFlipBringsADefaultVirtualMonitor) {
  const DaemonConfig none;
  EXPECT_EQ(none.host_display.backend, HostDisplayConfig::Backend::None) << "no direct flip, no host display";
  auto cfg = parse_daemon_config("[[vgpu]]\ndirect_flip = { output = 'Virtual-2' }\n[[vgpu]]\n", "df.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->host_display.backend, HostDisplayConfig::Backend::Virtual);
  ASSERT_EQ(cfg->host_display.outputs.size(), 2u);
  EXPECT_EQ(cfg->host_display.outputs[1].name, "Virtual-2");
  EXPECT_EQ(cfg->host_display.outputs[1].width, 1920u);
  ASSERT_TRUE(cfg->vgpus[0].direct_flip.has_value());
  EXPECT_EQ(cfg->vgpus[0].direct_flip->output, "Virtual-2");
  EXPECT_EQ(cfg->vgpus[0].direct_flip->pipe, hw::Pipe::A);
  EXPECT_FALSE(cfg->vgpus[1].direct_flip.has_value());
}

TEST(DaemonConfig, ReadsVirtualOutputsAndKms) {
  auto cfg = parse_daemon_config(R"(
[host_display]
backend = "virtual"
outputs = [{ name = "Virtual-1", width = 1280, height = 720, refresh_hz = 50 }, { height = 768, width = 1024 }]
[[vgpu]]
direct_flip = { output = "Virtual-2", pipe = "B" }
)", "v.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  const auto& o = cfg->host_display.outputs;
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0].width, 1280u);
  EXPECT_EQ(o[0].refresh_hz, 50u);
  EXPECT_EQ(o[1].name, "Virtual-2") << "a name left out is the one the monitor gives";
  EXPECT_EQ(o[1].refresh_hz, 60u);
  EXPECT_EQ(cfg->vgpus[0].direct_flip->pipe, hw::Pipe::B);

  auto kms = parse_daemon_config("[host_display]\nbackend = 'kms'\ncard = '/dev/dri/card1'\n[[vgpu]]\ndirect_flip = { output = 'HDMI-A-1' }\n",
                                 "k.toml");
  ASSERT_TRUE(kms.has_value()) << kms.error();
  EXPECT_EQ(kms->host_display.backend, HostDisplayConfig::Backend::Kms);
  EXPECT_EQ(kms->host_display.card, "/dev/dri/card1");
  EXPECT_EQ(kms->vgpus[0].direct_flip->output, "HDMI-A-1") << "a card's outputs are known only when it is opened";
  auto lease = parse_daemon_config("[host_display]\nbackend = 'kms'\nlease_fd = 7\n", "l.toml");
  ASSERT_TRUE(lease.has_value()) << lease.error();
  EXPECT_EQ(lease->host_display.lease_fd, 7);
  EXPECT_TRUE(lease->host_display.card.empty());
}

TEST(DaemonConfig, AVgpuMayWaitForAQemuVm) {
  auto cfg = parse_daemon_config("[[vgpu]]\nworkload = 'console'\n[[vgpu]]\nguest = 'qemu'\ntearing = 'hold'\n", "vm.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  ASSERT_EQ(cfg->vgpus.size(), 2u);
  EXPECT_FALSE(cfg->vgpus[0].vm());
  EXPECT_EQ(cfg->vgpus[0].guest_name(), "console");
  EXPECT_TRUE(cfg->vgpus[1].vm());
  EXPECT_EQ(cfg->vgpus[1].guest_name(), "qemu");
  EXPECT_EQ(cfg->vgpus[1].tearing, TearingMode::Hold);
}

TEST(DaemonConfig, ReadsViewerSections) {
  auto cfg = parse_daemon_config(R"(
[vnc]
enabled = true
listen = "::1"
base_port = 0
password = "s3cret"
[web]
enabled = false
listen = "0.0.0.0"
port = 9090
token = "0123abcd"
allowed_hosts = ["vgpu-box.lan", "10.0.0.7"]
metrics_auth = "none"
)", "viewers.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_TRUE(cfg->vnc.auth);
  EXPECT_TRUE(cfg->web.auth);
  EXPECT_EQ(cfg->web.token, "0123abcd");
  EXPECT_EQ(cfg->web.allowed_hosts, (std::vector<std::string>{"vgpu-box.lan", "10.0.0.7"}));
  EXPECT_FALSE(cfg->web.metrics_auth);
  EXPECT_EQ(cfg->vnc.listen, "::1");
  EXPECT_EQ(cfg->vnc.base_port, 0u);
  EXPECT_EQ(cfg->vnc.password, "s3cret");
  EXPECT_FALSE(cfg->web.enabled);
  EXPECT_EQ(cfg->web.listen, "0.0.0.0");
  EXPECT_EQ(cfg->web.port, 9090u);
}

TEST(DaemonConfig, ViewersAreLockedUnlessTurnedOff) {
  auto locked = parse_daemon_config("", "empty.toml");
  ASSERT_TRUE(locked.has_value()) << locked.error();
  EXPECT_TRUE(locked->vnc.auth && locked->web.auth && locked->web.metrics_auth);
  auto open = parse_daemon_config("[vnc]\nauth = 'none'\n[web]\nauth = 'none'\n", "open.toml");
  ASSERT_TRUE(open.has_value()) << open.error();
  EXPECT_FALSE(open->vnc.auth);
  EXPECT_FALSE(open->web.auth);
  EXPECT_FALSE(open->web.metrics_auth) << "no token at all: /metrics needs none either";
}

TEST(DaemonConfig, SocketDefaultsToTheRuntimeDirectory) {
  ::setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
  EXPECT_EQ(default_socket_path(), "/run/user/4242/vgpud.sock");
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(default_socket_path(), "/run/vgpud/vgpud.sock");
}

}  // namespace
}  // namespace vgd
