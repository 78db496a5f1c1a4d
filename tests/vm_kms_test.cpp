// vgpu-kmstest on the vGPU's own DRM driver in a real QEMU VM (docs/vm.md, vgpu-kmstest): after
// every step the host's composed screen must be the scene the step lines describe, flips must
// reach the host one by one, and the bench must report one event per flip. Label vm; skipped
// while the guest image carries no vgpu-kmstest.
//
// How the image runs it is the image's /init: this test assumes `vgpu.run=kmstest` runs
// /bin/vgpu-kmstest with every `kmstest.NAME=VALUE` as `--NAME VALUE` (as tools/kmstest-dev/init
// does) and prints `... exited with status N`; the go-on lines come over a second serial port.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>

#include "client/connection.h"
#include "daemon_support.h"
#include "kmstest/report.h"
#include "kmstest/scene.h"
#include "reference_pictures.h"
#include "sim/picture.h"
#include "vm_support.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;
using test::Vm;

constexpr auto kBoot = 300s;  // TCG on a loaded machine (vm_vgpu_test.cpp)

// True when the initramfs lists `path` (cpio's own listing of the gzip'd archive).
bool image_has(const std::string& initrd, const std::string& path) {
  const std::string cmd = fmt::format("gzip -dc '{}' | cpio -it --quiet 2>/dev/null", initrd);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return false;
  bool found = false;
  char line[512];
  while (std::fgets(line, sizeof line, p))
    found = found || std::string_view(line) == path + "\n";
  ::pclose(p);
  return found;
}

std::vector<kmstest::ReportLine> report_lines(const std::string& serial) {
  std::vector<kmstest::ReportLine> out;
  std::istringstream in(serial);
  for (std::string line; std::getline(in, line);)
    if (auto l = kmstest::parse_report_line(line)) out.push_back(std::move(*l));
  return out;
}

fb::Image scene_image(const kmstest::Scene& s) {
  fb::Image img{s.width, s.height, std::vector<uint32_t>(size_t{s.width} * s.height)};
  for (uint32_t y = 0; y < s.height; ++y)
    for (uint32_t x = 0; x < s.width; ++x) img.at(x, y) = kmstest::scene_pixel(s, x, y);
  return img;
}

class VmKmsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tools = test::find_vm_tools();
    if (!tools.missing.empty()) GTEST_SKIP() << tools.missing;
    if (!image_has(tools.initrd, "bin/vgpu-kmstest")) GTEST_SKIP() << "the guest image has no vgpu-kmstest yet";
    DaemonConfig cfg;
    VgpuSpec spec;
    spec.guest = GuestKind::Qemu;
    cfg.vgpus = {spec};
    daemon.start(cfg, "vm-kms");
    auto c = client::Connection::connect(daemon.path, "vm-kms-test");
    ASSERT_TRUE(c.has_value()) << c.error().message;
    conn.emplace(std::move(*c));
  }
  void TearDown() override {
    if (go >= 0) ::close(go);
    vm.reset();
    daemon.stop();
  }

  // Boots vGPU 1's VM running vgpu-kmstest with `options`; its ttyS1 is a socket we answer on.
  Vm& boot(const std::string& options) {
    auto sock = conn->attach_vm(1);
    EXPECT_TRUE(sock.has_value()) << sock.error().message;
    const std::string go_path = fmt::format("{}kms-go-{}.sock", ::testing::TempDir(), ::getpid());
    test::VmOptions o;
    o.append = "vgpu.run=kmstest kmstest.input=/dev/ttyS1 " + options;
    o.args = {"-device", fmt::format("x-pci-proxy-dev,id=vgpu1,fd={}", sock->get()),
              "-serial", fmt::format("unix:{},server=on,wait=off", go_path)};
    o.inherit_fds = {sock->get()};
    vm = std::make_unique<Vm>(tools, o, "kms");
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", go_path.c_str());
    for (int i = 0; i < 100 && go < 0; ++i) {  // QEMU creates the socket as it starts
      go = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(go, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(go);
        go = -1;
        std::this_thread::sleep_for(100ms);
      }
    }
    EXPECT_GE(go, 0) << "QEMU's second serial port at " << go_path;
    return *vm;
  }
  // The n-th (0-based) report line, once the serial console shows it.
  std::optional<kmstest::ReportLine> line(size_t n) {
    const auto until = std::chrono::steady_clock::now() + kBoot;
    while (std::chrono::steady_clock::now() < until) {
      const std::string out = vm->serial();
      if (out.find("kmstest: failed") != std::string::npos) return std::nullopt;
      auto lines = report_lines(out);
      if (lines.size() > n) return lines[n];
      std::this_thread::sleep_for(100ms);
    }
    return std::nullopt;
  }
  void go_on() { ASSERT_EQ(::write(go, "\n", 1), 1); }
  uint64_t host_flips() {
    auto* hv = daemon.host->find(1);
    const Locked lk(hv->lock());
    return hv->vgpu().display().stats().flips[0][0];
  }

  test::VmTools tools;
  test::RunningDaemon daemon;
  std::optional<client::Connection> conn;
  std::unique_ptr<Vm> vm;
  int go = -1;
};

TEST_F(VmKmsTest, EveryStepReachesTheHostsScreen) {
  boot("");
  kmstest::Scene scene;
  uint64_t flips_before = 0;
  for (size_t n = 0;; ++n) {
    const auto l = line(n);
    ASSERT_TRUE(l.has_value()) << "step line " << n << "\n" << vm->logs();
    ASSERT_TRUE(kmstest::apply_step(scene, *l)) << l->name;
    if (l->name == "flip") {
      EXPECT_EQ(host_flips(), flips_before + 1) << "flip " << *l->get("index") << " latched once on the host";
    }
    flips_before = host_flips();
    if (scene.on) {
      auto* hv = daemon.host->find(1);
      const Locked lk(hv->lock());
      auto pic = compose_display(hv->vgpu());
      ASSERT_TRUE(pic.has_value()) << l->name << ": " << pic.error();
      ASSERT_EQ(pic->image.width, scene.width) << l->name;
      ASSERT_EQ(pic->image.height, scene.height) << l->name;
      std::string first;
      EXPECT_EQ(test::differing_pixels(pic->image, scene_image(scene), first), 0u) << l->name << ": " << first;
    }
    if (l->name == "off") break;
    go_on();
  }
  EXPECT_TRUE(vm->wait_for("exited with status 0", 60s)) << vm->logs();
}

TEST_F(VmKmsTest, BenchFlipsGetOneEventEach) {
  boot("kmstest.bench-flips=100");
  ASSERT_TRUE(vm->wait_for("kmstest: bench-flips", kBoot)) << vm->logs();
  kmstest::ReportLine bench;
  for (const auto& l : report_lines(vm->serial()))
    if (l.kind == "bench-flips") bench = l;
  EXPECT_EQ(bench.get("flips"), "100");
  const auto p50 = std::stoull(std::string(bench.get("p50_us").value_or("0")));
  const auto p99 = std::stoull(std::string(bench.get("p99_us").value_or("0")));
  EXPECT_GT(p50, 0u);
  EXPECT_GE(p99, p50);
  EXPECT_GE(host_flips(), 100u) << "every guest flip latched on the host";
}

}  // namespace
}  // namespace vgd
