// vgpud's configuration: embedded defaults, a full file, and errors that name the line and key.
#include <gtest/gtest.h>

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
)",
                                 "full.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->gpu.geometry.aperture_size, 1024ull << 20);
  EXPECT_EQ(cfg->socket, "/tmp/x.sock");
  EXPECT_EQ(cfg->max_clients, 8u);
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
  EXPECT_EQ(DaemonConfig{}.vgpus[0].tearing, TearingMode::None);
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
                      // GVTg_V5_8 goes up to 1024x768: the guest's pipe would never light.
                      BadCase{"mode_beyond_type", "[[vgpu]]\n\nmode = '1920x1080@60'\n", "bad.toml:3", "vgpu.mode"},
                      BadCase{"modeswitch_beyond_type", "[[vgpu]]\nworkload = 'modeswitch'\n", "bad.toml:2", "vgpu.workload"},
                      BadCase{"budget_without_copy", "[[vgpu]]\ncopy_budget_mib = 16\n", "bad.toml:2", "vgpu.copy_budget_mib"},
                      BadCase{"zero_budget", "[[vgpu]]\ntearing = 'copy'\ncopy_budget_mib = 0\n", "bad.toml:3", "vgpu.copy_budget_mib"},
                      BadCase{"wrong_type", "[server]\nmax_clients = 'many'\n", "bad.toml:2", "server.max_clients"},
                      BadCase{"no_idle_buffers", "[export]\nidle_buffers = 0\n", "bad.toml:2", "export.idle_buffers"},
                      BadCase{"vnc_port_too_high", "[vnc]\n\nbase_port = 65300\n", "bad.toml:3", "vnc.base_port"},
                      BadCase{"vnc_unknown_key", "[vnc]\nport = 5900\n", "bad.toml:2", "vnc.port"},
                      BadCase{"web_port_too_high", "[web]\nport = 70000\n", "bad.toml:2", "web.port"},
                      BadCase{"web_not_table", "web = 8080\n", "bad.toml:1", "web"},
                      BadCase{"syntax", "[[vgpu]\n", "bad.toml:1", ""}),
    [](const auto& p) { return std::string(p.param.name); });

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
)", "viewers.toml");
  ASSERT_TRUE(cfg.has_value()) << cfg.error();
  EXPECT_EQ(cfg->vnc.listen, "::1");
  EXPECT_EQ(cfg->vnc.base_port, 0u);
  EXPECT_EQ(cfg->vnc.password, "s3cret");
  EXPECT_FALSE(cfg->web.enabled);
  EXPECT_EQ(cfg->web.listen, "0.0.0.0");
  EXPECT_EQ(cfg->web.port, 9090u);
}

TEST(DaemonConfig, SocketDefaultsToTheRuntimeDirectory) {
  ::setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
  EXPECT_EQ(default_socket_path(), "/run/user/4242/vgpud.sock");
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(default_socket_path(), "/run/vgpud/vgpud.sock");
}

}  // namespace
}  // namespace vgd
