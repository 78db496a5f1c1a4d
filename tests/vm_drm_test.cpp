// The guest's DRM driver vgpu_drm in real QEMU VMs (docs/guest-driver.md, docs/vm.md): the image
// loads it (vgpu.driver=1) and gives the test a shell on the serial console (vgpu.shell=1). It
// binds a vgpud vGPU and its fbdev console reaches a consumer's picture; a line written to tty1
// changes that picture where the cursor is; rmmod leaves no GGTT entry behind and takes
// display-ready back; and it refuses devices it cannot drive, saying why, without a DRM device.
// Label vm; skipped, saying why, without QEMU, the image or the driver in it.
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <regex>

#include "client/connection.h"
#include "daemon_support.h"
#include "fb/png.h"
#include "hw/pvinfo.h"
#include "remote/proxy_session.h"
#include "remote_support.h"
#include "util/thread_annotations.h"
#include "viewers/frame_grab.h"
#include "vm_support.h"
#include "vnc_support.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;
using test::Vm;

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
    tools = test::find_vm_tools();
    if (!tools.missing.empty()) GTEST_SKIP() << tools.missing;
    if (!tools.driver_missing.empty()) GTEST_SKIP() << tools.driver_missing;
  }
  // Starts the VM on a device behind `sock` and waits for its shell. `consoles` and `extra` go
  // before and after the usual kernel command line.
  void boot(int sock, const std::string& name, const std::string& consoles = "", const std::string& extra = "") {
    test::VmOptions o;
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
  test::SerialShell::Result sh(const std::string& command) {
    auto r = vm->shell().run(command, kCommand);
    EXPECT_TRUE(r.has_value()) << "no answer to `" << command << "`\n" << vm->logs();
    return r.value_or(test::SerialShell::Result{});
  }
  bool has_drm_device() { return sh("test -e /dev/dri/card0").status == 0; }

  test::VmTools tools;
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
    test::eventually([&] {
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
  // and PVINFO's display_ready.
  struct HostView {
    uint64_t present = 0;
    uint64_t first_gm = 0;
    uint32_t ready = 0;
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
    return h;
  }

  test::RunningDaemon daemon;
  std::optional<client::Connection> conn;
  std::optional<client::VgpuSession> session;
};

// Writes `img` as a PNG next to the VM's logs, for a failure message to point at.
std::string saved(const fb::Image& img, const std::string& name) {
  const std::string path = fmt::format("{}vm-drm-{}-{}.png", ::testing::TempDir(), name, ::getpid());
  return fb::write_png(img, path) ? "picture in " + path : "picture not saved";
}

// Pixels in rows [top, bottom) that are not the console's black background.
uint64_t lit_pixels(const fb::Image& img, uint32_t top, uint32_t bottom) {
  uint64_t n = 0;
  for (uint32_t y = top; y < std::min(bottom, img.height); ++y)
    for (uint32_t x = 0; x < img.width; ++x) n += img.at(x, y) != kBlack;
  return n;
}

TEST_F(VmDrmTest, TheDriverBindsAndItsConsoleReachesTheExportedPrimary) {
  // console=tty0 with loglevel=7 (after the usual quiet): the kernel's whole log goes to the
  // framebuffer console too, so it shows text.
  ASSERT_NO_FATAL_FAILURE(start("console=tty0", "loglevel=7"));
  const std::string dmesg = sh("dmesg | grep -i -e vgpu -e drm").output;
  EXPECT_NE(dmesg.find("vGPU 1, PVINFO 1."), std::string::npos) << dmesg;
  EXPECT_NE(dmesg.find("Initialized vgpu_drm"), std::string::npos) << dmesg;
  EXPECT_TRUE(has_drm_device()) << sh("ls -l /dev/dri").output;
  // libdrm's modetest in the image finds the device by its driver's name and a connected output.
  const auto connectors = sh("modetest -M vgpu_drm -c");
  EXPECT_EQ(connectors.status, 0) << connectors.output;
  EXPECT_TRUE(std::regex_search(connectors.output, std::regex("\\bconnected\\b"))) << connectors.output;
  EXPECT_EQ(sh("cat /sys/class/graphics/fb0/virtual_size").output.substr(0, 5), "1024,");

  // The first rows of the console hold text: a good part of them is lit, but far from all.
  const auto img = picture_when([](const fb::Image& i) { return lit_pixels(i, 0, 4 * kCellHeight) > 1000; });
  ASSERT_TRUE(img.has_value()) << "no primary plane to export\n" << vm->logs();
  EXPECT_EQ(img->width, 1024u);
  EXPECT_EQ(img->height, 768u);
  const uint64_t lit = lit_pixels(*img, 0, 4 * kCellHeight);
  EXPECT_GT(lit, 1000u) << "no console text in the top rows; " << saved(*img, "console") << "\n" << vm->logs();
  EXPECT_LT(lit, 1024u * 4 * kCellHeight / 2) << "the top rows are mostly lit: not text";
  const HostView h = host_view();
  EXPECT_GT(h.present, 0u) << "the scanned-out buffer is mapped through the vGPU's GGTT";
  EXPECT_EQ(h.ready, 1u);
}

TEST_F(VmDrmTest, ALineWrittenToTty1ChangesThePictureWhereTheCursorIs) {
  ASSERT_NO_FATAL_FAILURE(start());
  // A still cursor on a cleared console, five lines down.
  EXPECT_EQ(sh("echo 0 > /sys/class/graphics/fbcon/cursor_blink").status, 0);
  EXPECT_EQ(sh(R"(printf '\033[H\033[J\n\n\n\n\n' > /dev/tty1)").status, 0);
  constexpr uint32_t kRow = 5;
  const auto before = picture_when([](const fb::Image&) { return true; });
  ASSERT_TRUE(before.has_value()) << "no primary plane to export\n" << vm->logs();

  EXPECT_EQ(sh("printf 'vgpu_drm: a line on tty1 #0123456789' > /dev/tty1").status, 0);
  const auto after = picture_when([&](const fb::Image& i) { return i.px != before->px; });
  ASSERT_TRUE(after.has_value() && after->px != before->px) << "the line never reached the picture\n" << vm->logs();
  uint32_t top = after->height, bottom = 0, right = 0;
  uint64_t changed = 0;
  for (uint32_t y = 0; y < after->height; ++y)
    for (uint32_t x = 0; x < after->width; ++x)
      if (after->at(x, y) != before->at(x, y)) {
        ++changed;
        top = std::min(top, y);
        bottom = std::max(bottom, y + 1);
        right = std::max(right, x + 1);
      }
  EXPECT_GE(top, kRow * kCellHeight) << "changed rows " << top << ".." << bottom;
  EXPECT_LE(bottom, (kRow + 1) * kCellHeight) << "changed rows " << top << ".." << bottom;
  // 36 characters and the cursor after them, 8 pixels each.
  EXPECT_LE(right, 37u * 8) << "changed columns up to " << right;
  EXPECT_GT(changed, 36u * 10) << "too few pixels for 36 characters";
}

TEST_F(VmDrmTest, RmmodLeavesNoGgttEntryAndTakesDisplayReadyBack) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(picture_when([](const fb::Image&) { return true; }).has_value()) << vm->logs();
  const HostView bound = host_view();
  ASSERT_GT(bound.present, 0u) << "the console's buffer is mapped while the driver is bound";
  ASSERT_EQ(bound.ready, 1u);

  const auto r = sh("rmmod vgpu_drm");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(has_drm_device());
  const HostView gone = host_view();
  EXPECT_EQ(gone.present, 0u) << "GGTT entries still present after rmmod, the first at GM " << std::hex
                              << gone.first_gm << " (of " << std::dec << bound.present << " while bound)";
  EXPECT_EQ(gone.ready, 0u);
  const std::string dmesg = sh("dmesg").output;
  EXPECT_EQ(dmesg.find("WARNING"), std::string::npos) << dmesg;
  EXPECT_EQ(dmesg.find("BUG"), std::string::npos) << dmesg;
}

TEST_F(VmDrmTest, SlicesTooSmallForAFramebufferAreRefused) {
  // A real vGPU whose type has 1 MiB of aperture and 2 MiB of hidden graphics memory.
  const VgpuType tiny{"tiny", {1 * kMiB, 2 * kMiB, 4}, 2, 1024, 768};
  ASSERT_NO_FATAL_FAILURE(start("", "", &tiny));
  const std::string dmesg = sh("dmesg | grep vgpu_drm").output;
  EXPECT_NE(dmesg.find("cannot hold one 1024x768 framebuffer"), std::string::npos) << dmesg;
  EXPECT_FALSE(has_drm_device());
  EXPECT_EQ(host_view().ready, 0u);
}

// A device with the vGPU's PCI identity that serves only a PVINFO page of the test's making (or
// none: zeros everywhere), over the same transport as vgpud.
class PvinfoOnlyDevice final : public remote::Endpoint {
 public:
  explicit PvinfoOnlyDevice(std::optional<hw::Pvinfo> page) : page_(page) {}
  uint64_t bar0_read(MmioOffset offset, uint32_t size) override {
    uint64_t v = 0;
    const uint64_t at = offset.value() - hw::kPvinfoOffset;
    if (page_ && offset.value() >= hw::kPvinfoOffset && at + size <= sizeof *page_)
      std::memcpy(&v, reinterpret_cast<const char*>(&*page_) + at, size);
    return v;
  }
  void bar0_write(MmioOffset, uint32_t, uint64_t) override { ++writes; }
  void set_guest_ram(std::vector<remote::RamSection>) override {}
  void reset() override {}
  std::atomic<uint64_t> writes{0};

 private:
  std::optional<hw::Pvinfo> page_;
};

class VmDrmRefusalTest : public DriverVmTest {
 protected:
  // Boots a VM on `device` and answers what the driver said about it in dmesg.
  std::string refused(PvinfoOnlyDevice& device, const std::string& name) {
    auto [ours, theirs] = remote::test::socket_pair();
    remote::ProxySession session(std::move(ours), device, intx, {});
    session.start();
    boot(theirs.get(), name);
    if (::testing::Test::HasFatalFailure()) return vm->logs();
    EXPECT_FALSE(has_drm_device());
    EXPECT_EQ(device.writes.load(), 0u) << "the driver wrote to a device it refused";
    const std::string dmesg = sh("dmesg | grep vgpu_drm").output;
    vm.reset();  // before the session it talks to
    return dmesg;
  }

  remote::IntxLine intx;
};

TEST_F(VmDrmRefusalTest, ADeviceWithoutPvinfoIsRefused) {
  PvinfoOnlyDevice device(std::nullopt);
  const std::string dmesg = refused(device, "nopvinfo");
  EXPECT_NE(dmesg.find("no PVINFO page (magic 0x0): not a vGPU, not binding"), std::string::npos) << dmesg;
}

TEST_F(VmDrmRefusalTest, PvinfoVersion2IsRefused) {
  hw::Pvinfo page{};
  page.magic = hw::kPvinfoMagic;
  page.version_major = 2;
  PvinfoOnlyDevice device(page);
  const std::string dmesg = refused(device, "pvinfo2");
  EXPECT_NE(dmesg.find("PVINFO version 2.0, this driver knows 1.x: not binding"), std::string::npos) << dmesg;
}

}  // namespace
}  // namespace vgd
