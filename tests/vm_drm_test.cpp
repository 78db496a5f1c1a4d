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

namespace vgd {
namespace {

using namespace std::chrono_literals;
using test::Vm;

// TCG boots to /init in 5-15 s on an idle machine; a loaded one (CI, -j2) needs far more. A
// command in the guest's shell takes well under a second; these only catch hangs.
constexpr auto kBoot = 300s;
constexpr auto kCommand = 120s;
constexpr auto kPicture = 120s;
// fbcon's font (forced with fbcon=font:VGA8x16) and its default colours, as XRGB8888 scans out.
constexpr uint32_t kCellHeight = 16;
constexpr uint32_t kBlack = 0xff000000;
// The kernel command line of every VM here: the driver, the shell, a known console mode and font.
constexpr std::string_view kDriverShell = "vgpu.driver=1 vgpu.shell=1 video=1024x768 fbcon=font:VGA8x16";

bool eventually(std::chrono::seconds limit, const std::function<bool()>& pred) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(200ms);
  }
  return true;
}

// Starts a VM with the driver and the shell on a device behind `sock`, and waits for the shell.
// `consoles` and `extra` go before and after the usual command line.
std::unique_ptr<Vm> boot_with_driver(const test::VmTools& tools, int sock, const std::string& name,
                                     const std::string& consoles = "", const std::string& extra = "") {
  test::VmOptions o;
  o.append = fmt::format("{} {}", kDriverShell, extra);
  o.consoles = consoles;
  o.shell = true;
  o.args = {"-device", fmt::format("x-pci-proxy-dev,id=vgpu,fd={}", sock)};
  o.inherit_fds = {sock};
  auto vm = std::make_unique<Vm>(tools, o, name);
  EXPECT_TRUE(vm->shell().connected()) << "QEMU's console socket\n" << vm->logs();
  EXPECT_TRUE(vm->wait_for("shell on the serial console", kBoot)) << vm->logs();
  return vm;
}

// Runs `command` in the VM's shell: its output, a test failure (with the console) if it hangs.
test::SerialShell::Result sh(Vm& vm, const std::string& command) {
  auto r = vm.shell().run(command, kCommand);
  EXPECT_TRUE(r.has_value()) << "no answer to `" << command << "`\n" << vm.logs();
  return r.value_or(test::SerialShell::Result{});
}

bool has_drm_device(Vm& vm) { return sh(vm, "test -e /dev/dri/card0").status == 0; }

class VmDrmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tools = test::find_vm_tools();
    if (!tools.missing.empty()) GTEST_SKIP() << tools.missing;
    if (!tools.driver_missing.empty()) GTEST_SKIP() << tools.driver_missing;
  }
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
    vm = boot_with_driver(tools, sock->get(), "drm", consoles, extra);
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
    eventually(kPicture, [&] {
      auto first = picture();
      if (!first || !pred(*first)) return false;
      std::this_thread::sleep_for(1s);
      last = picture();
      return last && last->px == first->px;
    });
    return last;
  }
  // Host view of the vGPU: GGTT entries present in its slices, and PVINFO's display_ready.
  std::pair<uint64_t, uint32_t> ggtt_and_ready() {
    auto* hv = daemon.host->find(1);
    const Locked lk(hv->lock());
    const GgttView& g = hv->vgpu().ggtt();
    uint64_t present = 0;
    for (const GmRange r : {g.aperture(), g.hidden()})
      for (uint64_t i = r.begin.value() / 4096; i < r.end().value() / 4096; ++i) present += g.guest_pte(i) & 1;
    return {present, hv->vgpu().display_ready()};
  }

  test::VmTools tools;
  test::RunningDaemon daemon;
  std::optional<client::Connection> conn;
  std::optional<client::VgpuSession> session;
  std::unique_ptr<Vm> vm;
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
  const std::string dmesg = sh(*vm, "dmesg | grep -i -e vgpu -e drm").output;
  EXPECT_NE(dmesg.find("vGPU 1, PVINFO 1."), std::string::npos) << dmesg;
  EXPECT_NE(dmesg.find("Initialized vgpu_drm"), std::string::npos) << dmesg;
  EXPECT_TRUE(has_drm_device(*vm)) << sh(*vm, "ls -l /dev/dri").output;
  EXPECT_EQ(sh(*vm, "cat /sys/class/graphics/fb0/virtual_size").output.substr(0, 5), "1024,");

  // The first rows of the console hold text: a good part of them is lit, but far from all.
  const auto img = picture_when([](const fb::Image& i) { return lit_pixels(i, 0, 4 * kCellHeight) > 1000; });
  ASSERT_TRUE(img.has_value()) << "no primary plane to export\n" << vm->logs();
  EXPECT_EQ(img->width, 1024u);
  EXPECT_EQ(img->height, 768u);
  const uint64_t lit = lit_pixels(*img, 0, 4 * kCellHeight);
  EXPECT_GT(lit, 1000u) << "no console text in the top rows; " << saved(*img, "console") << "\n" << vm->logs();
  EXPECT_LT(lit, 1024u * 4 * kCellHeight / 2) << "the top rows are mostly lit: not text";
  const auto [present, ready] = ggtt_and_ready();
  EXPECT_GT(present, 0u) << "the scanned-out buffer is mapped through the vGPU's GGTT";
  EXPECT_EQ(ready, 1u);
}

TEST_F(VmDrmTest, ALineWrittenToTty1ChangesThePictureWhereTheCursorIs) {
  ASSERT_NO_FATAL_FAILURE(start());
  // A still cursor on a cleared console, five lines down.
  EXPECT_EQ(sh(*vm, "echo 0 > /sys/class/graphics/fbcon/cursor_blink").status, 0);
  EXPECT_EQ(sh(*vm, R"(printf '\033[H\033[J\n\n\n\n\n' > /dev/tty1)").status, 0);
  constexpr uint32_t kRow = 5;
  const auto before = picture_when([](const fb::Image&) { return true; });
  ASSERT_TRUE(before.has_value()) << "no primary plane to export\n" << vm->logs();

  EXPECT_EQ(sh(*vm, "printf 'vgpu_drm: a line on tty1 #0123456789' > /dev/tty1").status, 0);
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
  const auto [present, ready] = ggtt_and_ready();
  ASSERT_GT(present, 0u) << "the console's buffer is mapped while the driver is bound";
  ASSERT_EQ(ready, 1u);

  const auto r = sh(*vm, "rmmod vgpu_drm");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(has_drm_device(*vm));
  const auto [left, ready_after] = ggtt_and_ready();
  EXPECT_EQ(left, 0u) << "GGTT entries still present after rmmod";
  EXPECT_EQ(ready_after, 0u);
  const std::string dmesg = sh(*vm, "dmesg").output;
  EXPECT_EQ(dmesg.find("WARNING"), std::string::npos) << dmesg;
  EXPECT_EQ(dmesg.find("BUG"), std::string::npos) << dmesg;
}

TEST_F(VmDrmTest, SlicesTooSmallForAFramebufferAreRefused) {
  // A real vGPU whose type has 1 MiB of aperture and 2 MiB of hidden graphics memory.
  const VgpuType tiny{"tiny", {1 * kMiB, 2 * kMiB, 4}, 2, 1024, 768};
  ASSERT_NO_FATAL_FAILURE(start("", "", &tiny));
  const std::string dmesg = sh(*vm, "dmesg | grep vgpu_drm").output;
  EXPECT_NE(dmesg.find("cannot hold one 1024x768 framebuffer"), std::string::npos) << dmesg;
  EXPECT_FALSE(has_drm_device(*vm));
  EXPECT_EQ(ggtt_and_ready().second, 0u);
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

class VmDrmRefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tools = test::find_vm_tools();
    if (!tools.missing.empty()) GTEST_SKIP() << tools.missing;
    if (!tools.driver_missing.empty()) GTEST_SKIP() << tools.driver_missing;
  }
  // Boots a VM on `device` and answers what the driver said about it in dmesg.
  std::string refused(PvinfoOnlyDevice& device, const std::string& name) {
    auto [ours, theirs] = remote::test::socket_pair();
    remote::ProxySession session(std::move(ours), device, intx, {});
    session.start();
    vm = boot_with_driver(tools, theirs.get(), name);
    EXPECT_FALSE(has_drm_device(*vm));
    EXPECT_EQ(device.writes.load(), 0u) << "the driver wrote to a device it refused";
    const std::string dmesg = sh(*vm, "dmesg | grep vgpu_drm").output;
    vm.reset();
    return dmesg;
  }

  test::VmTools tools;
  remote::IntxLine intx;
  std::unique_ptr<Vm> vm;
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
