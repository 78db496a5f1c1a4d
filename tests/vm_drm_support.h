// For the tests of the guest's DRM driver vgpu_drm in real QEMU VMs (vm_drm_test.cpp,
// vm_modetest_test.cpp): a VM whose image loads the driver (vgpu.driver=1) and gives the test a
// shell on the serial console (vgpu.shell=1), on a vGPU of an in-process vgpud with a consumer
// session, and what the tests read back: the exported primary composed, the vGPU's GGTT and
// PVINFO as the host sees them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "client/connection.h"
#include "daemon_support.h"
#include "fb/png.h"
#include "util/thread_annotations.h"
#include "viewers/frame_grab.h"
#include "vm_support.h"
#include "vnc_support.h"

namespace vgd::test {

using namespace std::chrono_literals;

// TCG boots to /init in 5-15 s on an idle machine; a loaded one (CI, -j2) needs far more. A
// command in the guest's shell takes well under a second; these only catch hangs.
constexpr auto kBoot = 300s;
constexpr auto kCommand = 120s;
constexpr auto kPicture = 120s;
// fbcon's character height (font forced with fbcon=font:VGA8x16) and its background, composed.
constexpr uint32_t kCellHeight = 16;
constexpr uint32_t kBlack = 0xff000000;
// The kernel command line of every VM here: the driver, the shell, a known console mode and font.
constexpr std::string_view kDriverShell = "vgpu.driver=1 vgpu.shell=1 video=1024x768 fbcon=font:VGA8x16";

// What every test here has: the VM tools (skipping without them or the driver in the image) and
// one VM with the driver and a shell.
class DriverVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tools = find_vm_tools();
    if (!tools.missing.empty()) GTEST_SKIP() << tools.missing;
    if (!tools.driver_missing.empty()) GTEST_SKIP() << tools.driver_missing;
  }
  // Starts the VM on a device behind `sock` and waits for its shell. `consoles` and `extra` go
  // before and after the usual kernel command line.
  void boot(int sock, const std::string& name, const std::string& consoles = "", const std::string& extra = "") {
    VmOptions o;
    o.append = fmt::format("{} {}", kDriverShell, extra);
    o.consoles = consoles;
    o.shell = true;
    o.args = {"-device", fmt::format("x-pci-proxy-dev,id=vgpu,fd={}", sock)};
    o.inherit_fds = {sock};
    vm = std::make_unique<Vm>(tools, o, name);
    ASSERT_TRUE(vm->shell().connected()) << "QEMU's console socket\n" << vm->logs();
    ASSERT_TRUE(vm->wait_for("shell on the serial console", kBoot)) << vm->logs();
  }
  // Runs `command` in the VM's shell: its output, a test failure (with the console) if it hangs.
  SerialShell::Result sh(const std::string& command) {
    auto r = vm->shell().run(command, kCommand);
    EXPECT_TRUE(r.has_value()) << "no answer to `" << command << "`\n" << vm->logs();
    return r.value_or(SerialShell::Result{});
  }
  bool has_drm_device() { return sh("test -e /dev/dri/card0").status == 0; }

  VmTools tools;
  std::unique_ptr<Vm> vm;
};

class VmDrmTest : public DriverVmTest {
 protected:
  void TearDown() override {
    vm.reset();
    daemon.stop();
  }
  // The daemon with one VM vGPU of `type`, a consumer session on it, and a VM booted on it.
  void start(const std::string& consoles = "", const std::string& extra = "", const VgpuType* type = nullptr) {
    DaemonConfig cfg;
    VgpuSpec spec;
    spec.guest = GuestKind::Qemu;
    if (type) {
      cfg.gpu.types.push_back(*type);
      spec.type = type->name;
    }
    cfg.vgpus = {spec};
    cfg.vnc.enabled = false;
    cfg.web.enabled = false;
    daemon.start(cfg, "vm-drm");
    auto c = client::Connection::connect(daemon.path, "vm-drm-test");
    ASSERT_TRUE(c.has_value()) << c.error().message;
    conn.emplace(std::move(*c));
    auto s = conn->open(1);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    session.emplace(std::move(*s));
    auto sock = conn->attach_vm(1);
    ASSERT_TRUE(sock.has_value()) << sock.error().message;
    boot(sock->get(), "drm", consoles, extra);
  }
  // The primary plane as a consumer composes it; nothing while the pipe is off.
  std::optional<fb::Image> picture() {
    auto frame = viewers::query_planes(*session, {hw::Plane::Primary});
    if (!frame || !viewers::map_buffers(*session, *frame)) return std::nullopt;
    auto img = viewers::compose_frame(*frame);
    viewers::drop_buffers(*frame);
    return img ? std::optional(std::move(*img)) : std::nullopt;
  }
  // Waits for a picture that `pred` accepts and that is still the same a second later (the
  // console has finished drawing); the last one seen (or nothing) when none is.
  std::optional<fb::Image> picture_when(const std::function<bool(const fb::Image&)>& pred) {
    std::optional<fb::Image> last;
    eventually([&] {
      last = picture();
      if (!last || !pred(*last)) return false;
      std::this_thread::sleep_for(1s);
      auto again = picture();
      const bool same = again && again->px == last->px;
      last = std::move(again);
      return same;
    }, kPicture);
    return last;
  }
  // Host view of the vGPU: GGTT entries present in its slices (and the GM address of the first),
  // PVINFO's display_ready, and the device resets so far.
  struct HostView {
    uint64_t present = 0;
    uint64_t first_gm = 0;
    uint32_t ready = 0;
    uint64_t resets = 0;
  };
  HostView host_view() {
    auto* hv = daemon.host->find(1);
    const Locked lk(hv->lock());
    const GgttView& g = hv->vgpu().ggtt();
    HostView h;
    for (const GmRange r : {g.aperture(), g.hidden()})
      for (uint64_t i = r.begin.value() / 4096; i < r.end().value() / 4096; ++i)
        if (g.guest_pte(i) & 1 && h.present++ == 0) h.first_gm = i * 4096;
    h.ready = hv->vgpu().display_ready();
    h.resets = hv->vgpu().resets();
    return h;
  }

  RunningDaemon daemon;
  std::optional<client::Connection> conn;
  std::optional<client::VgpuSession> session;
};

// Writes `img` as a PNG next to the VM's logs, for a failure message to point at.
inline std::string saved(const fb::Image& img, const std::string& name) {
  const std::string path = fmt::format("{}vm-drm-{}-{}.png", ::testing::TempDir(), name, ::getpid());
  return fb::write_png(img, path) ? "picture in " + path : "picture not saved";
}

// Pixels in rows [top, bottom) that are not the console's black background.
inline uint64_t lit_pixels(const fb::Image& img, uint32_t top, uint32_t bottom) {
  uint64_t n = 0;
  for (uint32_t y = top; y < std::min(bottom, img.height); ++y)
    for (uint32_t x = 0; x < img.width; ++x) n += img.at(x, y) != kBlack;
  return n;
}

}  // namespace vgd::test
