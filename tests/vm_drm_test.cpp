// The guest's DRM driver vgpu_drm in real QEMU VMs (docs/guest-driver.md, docs/vm.md): the image
// loads it (vgpu.driver=1) and gives the test a shell on the serial console (vgpu.shell=1). It
// binds a vgpud vGPU and its fbdev console reaches a consumer's picture; a line written to tty1
// changes that picture where the cursor is; rmmod leaves no GGTT entry behind and takes
// display-ready back; a function-level reset gives the console back with no stale GGTT entry;
// and it refuses devices it cannot drive, saying why, without a DRM device.
// Label vm; skipped, saying why, without QEMU, the image or the driver in it.
#include <atomic>
#include <cstring>
#include <regex>

#include "hw/pvinfo.h"
#include "remote/proxy_session.h"
#include "remote_support.h"
#include "vm_drm_support.h"

namespace vgd {
namespace {

using test::DriverVmTest;
using test::VmDrmTest;
using test::kCellHeight;
using test::lit_pixels;
using test::saved;

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
  // The consumer takes the damage so far (its first answer after Open is whole-plane), so
  // what it is told next is the line's.
  ASSERT_TRUE(session->damage(proto::kPlanePrimary).has_value());

  EXPECT_EQ(sh("printf 'vgpu_drm: a line on tty1 #0123456789' > /dev/tty1").status, 0);
  const auto after = picture_when([&](const fb::Image& i) { return i.px != before->px; });
  ASSERT_TRUE(after.has_value() && after->px != before->px) << "the line never reached the picture\n" << vm->logs();
  uint32_t top = after->height, bottom = 0, right = 0;
  uint64_t changed = 0;
  std::vector<std::pair<uint32_t, uint32_t>> changed_at;
  for (uint32_t y = 0; y < after->height; ++y)
    for (uint32_t x = 0; x < after->width; ++x)
      if (after->at(x, y) != before->at(x, y)) {
        ++changed;
        changed_at.emplace_back(x, y);
        top = std::min(top, y);
        bottom = std::max(bottom, y + 1);
        right = std::max(right, x + 1);
      }
  EXPECT_GE(top, kRow * kCellHeight) << "changed rows " << top << ".." << bottom;
  EXPECT_LE(bottom, (kRow + 1) * kCellHeight) << "changed rows " << top << ".." << bottom;
  // 36 characters and the cursor after them, 8 pixels each.
  EXPECT_LE(right, 37u * 8) << "changed columns up to " << right;
  EXPECT_GT(changed, 36u * 10) << "too few pixels for 36 characters";

  // fbdev's console hints what it drew: the consumer's GetDamage answers are hinted rectangles
  // (never "no hints", never the whole plane) that come to cover every changed row, and they
  // are a small part of the screen. Hints follow the guest's writes, so they are gathered
  // until they cover the change.
  std::vector<proto::DamageRect> hinted;
  std::string answers;
  const auto covered = [&] {
    for (const auto& [x, y] : changed_at) {
      const auto inside = [&](const proto::DamageRect& r) { return x >= r.x && x - r.x < r.width && y >= r.y && y - r.y < r.height; };
      if (std::none_of(hinted.begin(), hinted.end(), inside)) return false;
    }
    return true;
  };
  test::eventually([&] {
    auto d = session->damage(proto::kPlanePrimary);
    if (!d) {
      answers += " error:" + d.error().message;
      return true;
    }
    answers += fmt::format(" {{hinted={} whole={} rects={}}}", d->hinted, d->whole, d->rects.size());
    if (!d->hinted || d->whole) return true;
    hinted.insert(hinted.end(), d->rects.begin(), d->rects.end());
    return covered();
  }, test::kPicture);
  EXPECT_TRUE(covered()) << "damage answers:" << answers;
  for (const auto& r : hinted) answers += fmt::format(" {}x{}+{}+{}", r.width, r.height, r.x, r.y);
  EXPECT_EQ(answers.find("hinted=false"), std::string::npos) << answers;
  EXPECT_EQ(answers.find("whole=true"), std::string::npos) << answers;
  uint64_t area = 0;
  for (const auto& r : hinted) area += uint64_t{r.width} * r.height;
  EXPECT_LE(area, uint64_t{after->width} * after->height / 8) << "hinted rectangles:" << answers;
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

// Plain write(2) to /dev/fb0, as a splash program or `dd` does: fbdev's shadow is copied to the
// scanned-out buffer for the damaged rows. Blocks of two lines: Linux 6.1 computes an empty
// damage rectangle for a write of exactly one whole line (docs/guest-driver.md, Limits).
TEST_F(VmDrmTest, WritesToDevFb0ReachTheExportedPrimary) {
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_EQ(sh("echo 0 > /sys/class/graphics/fbcon/cursor_blink").status, 0);
  EXPECT_EQ(sh(R"(printf '\033[H\033[J' > /dev/tty1)").status, 0);
  const auto before = picture_when([](const fb::Image&) { return true; });
  ASSERT_TRUE(before.has_value()) << "no console picture\n" << vm->logs();

  // 96 blocks of 8 KiB: the first 192 rows of the 1024-pixel (4 KiB) lines, every byte 0xff.
  constexpr uint32_t kRows = 192;
  const auto r = sh("tr '\\000' '\\377' < /dev/zero | dd of=/dev/fb0 bs=8192 count=96 2>&1");
  EXPECT_EQ(r.status, 0) << r.output;
  const auto white = [&](const fb::Image& i) {
    for (uint32_t y = 0; y < kRows; ++y)
      for (uint32_t x = 0; x < i.width; ++x)
        if (i.at(x, y) != 0xffffffffu) return false;
    return true;
  };
  const auto after = picture_when(white);
  ASSERT_TRUE(after.has_value() && white(*after)) << "the written rows are not white; "
                                                  << (after ? saved(*after, "fb0-write") : "no picture");
  for (uint32_t y = kRows; y < after->height; ++y)
    for (uint32_t x = 0; x < after->width; ++x)
      ASSERT_EQ(after->at(x, y), before->at(x, y)) << "a row below the write changed at " << x << "," << y;
}

// The device offers a function-level reset (docs/vm.md, Config space), so Linux lists `reset` in
// sysfs and runs the driver's reset hooks around it (docs/guest-driver.md, Device reset).
TEST_F(VmDrmTest, AFunctionResetRestoresTheConsoleWithNoStaleGgttEntry) {
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_EQ(sh("echo 0 > /sys/class/graphics/fbcon/cursor_blink").status, 0);
  EXPECT_EQ(sh(R"(printf '\033[H\033[Jbefore the reset' > /dev/tty1)").status, 0);
  const auto before = picture_when([](const fb::Image& i) { return lit_pixels(i, 0, kCellHeight) > 0; });
  ASSERT_TRUE(before.has_value()) << "no console picture\n" << vm->logs();
  const HostView bound = host_view();
  ASSERT_GT(bound.present, 0u);

  const auto dev = sh(R"sh(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x10f0 ] && echo $d; done)sh");
  ASSERT_EQ(dev.output.find("/sys/bus/pci/devices/"), 0u) << dev.output;
  const std::string path = dev.output.substr(0, dev.output.find('\n'));
  const auto r = sh(fmt::format("echo 1 > {}/reset", path));
  ASSERT_EQ(r.status, 0) << r.output << sh("dmesg | tail -20").output;

  // The device was reset once and forgot everything; the driver restored its display, which
  // maps the console's one buffer again and nothing else, to the same picture.
  const auto after = picture_when([&](const fb::Image& i) { return i.px == before->px; });
  EXPECT_TRUE(after.has_value() && after->px == before->px)
      << "the console's picture did not come back; " << (after ? saved(*after, "after-reset") : "no picture") << "\n"
      << vm->logs();
  const HostView restored = host_view();
  EXPECT_EQ(restored.resets, bound.resets + 1);
  EXPECT_EQ(restored.present, bound.present) << "GGTT entries after the reset vs before";
  EXPECT_EQ(restored.ready, 1u);
  const std::string dmesg = sh("dmesg").output;
  EXPECT_NE(dmesg.find("device reset: display restored"), std::string::npos) << dmesg;
  EXPECT_EQ(dmesg.find("WARNING"), std::string::npos) << dmesg;
  EXPECT_EQ(dmesg.find("BUG"), std::string::npos) << dmesg;

  // The console keeps drawing, and unloading still leaves nothing behind.
  EXPECT_EQ(sh("printf '\nafter the reset' > /dev/tty1").status, 0);
  const auto drawn = picture_when([&](const fb::Image& i) { return i.px != before->px; });
  EXPECT_TRUE(drawn && drawn->px != before->px) << "the console stopped drawing after the reset";
  EXPECT_EQ(sh("rmmod vgpu_drm").status, 0);
  EXPECT_EQ(host_view().present, 0u);
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
