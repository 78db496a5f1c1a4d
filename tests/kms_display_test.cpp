// The KMS backend on a real kernel (docs/vm.md, The kms test rig): a QEMU VM with virtio-gpu and
// two outputs runs vgpu-kms-probe, which drives KmsDisplay as master (pattern A on the first
// output, B on the second, one atomic modeset; vblank events asked for, which virtio-gpu
// refuses) and then through a lease of the second output in a child (pattern C with a page
// flip). QEMU's own VNC server shows each output; every pixel captured must be the pattern the
// probe says it committed there. Label kms; skipped, saying why, without QEMU, gvnccapture or a
// guest image carrying the probe.
#include <fmt/format.h>

#include <regex>

#include "kms_support.h"
#include "kmstest/patterns.h"
#include "vm_support.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;
using kmstest::Pattern;

constexpr auto kBoot = 300s;  // TCG on a loaded machine (vm_vgpu_test.cpp)
constexpr uint32_t kWidth = 640, kHeight = 480;

// How far a captured output is from `p` everywhere: empty when every pixel is exact.
std::string differs(const fb::Image& img, Pattern p) {
  if (img.width != kWidth || img.height != kHeight) return fmt::format("a {}x{} picture", img.width, img.height);
  size_t wrong = 0;
  std::string first;
  for (uint32_t y = 0; y < kHeight; ++y)
    for (uint32_t x = 0; x < kWidth; ++x) {
      const uint32_t want = kmstest::pattern_pixel(p, x, y) & 0xffffff, got = img.at(x, y) & 0xffffff;
      if (want == got) continue;
      if (wrong++ == 0) first = fmt::format(" (first at {},{}: {:06x}, not {:06x})", x, y, got, want);
    }
  return wrong ? fmt::format("{} pixels differ from pattern {}{}", wrong, kmstest::pattern_name(p), first) : "";
}

// Captures VNC display `display` until it shows `p` exactly (kms_support.h).
std::string expect_shown(int display, Pattern p, const std::string& dir, const std::string& name) {
  return test::expect_capture(display, dir, name, [p](const fb::Image& img) { return differs(img, p); });
}

TEST(KmsDisplayVm, TwoOutputsThenALeaseShowExactlyWhatWasCommitted) {
  const test::VmTools tools = test::find_vm_tools();
  VGD_REQUIRE_VM(tools);
  if (!std::filesystem::exists(std::string(VGD_GUEST_IMAGE_DIR) + "/kms.txt"))
    GTEST_SKIP() << "the guest image has no vgpu-kms-probe (the KMS backend needs libdrm-dev)";
  if (!test::in_path("gvnccapture")) GTEST_SKIP() << "gvnccapture is not in PATH (Debian package gvncviewer)";
  std::array<int, 2> heads{};
  const auto vm_owner = test::boot_rig(tools, "kmsprobe", kWidth, kHeight, "kms", heads);
  test::Vm& vm = *vm_owner;
  const int head0 = heads[0], head1 = heads[1];
  ASSERT_GT(head0, 0);
  ASSERT_GT(head1, 0);
  ASSERT_TRUE(vm.shell().connected()) << vm.logs();
  auto& console = vm.shell();
  const auto step = [&](const char* name) {
    const auto line = console.expect(std::regex(fmt::format("kms-probe: (step {} shown|FAIL)", name)), kBoot);
    return line && line->find("FAIL") == std::string::npos;
  };
  const auto printed = [&](const std::string& pattern) { return std::regex_search(console.console(), std::regex(pattern)); };
  const std::string dir = ::testing::TempDir();

  // Master: one atomic modeset of both outputs, each on its own CRTC with its own pattern.
  ASSERT_TRUE(step("modeset")) << console.console();
  EXPECT_TRUE(printed("output Virtual-1 connected=true")) << console.console();
  EXPECT_TRUE(printed("output Virtual-2 connected=")) << console.console();
  EXPECT_TRUE(printed("shows A on head 0 output Virtual-1 crtc \\d+ mode 640x480")) << console.console();
  EXPECT_TRUE(printed("shows B on head 1 output Virtual-2 crtc \\d+ mode 640x480")) << console.console();
  // virtio-gpu has no vblank interrupt: the kernel refuses vblank events (the older request as
  // well), and the backend says so.
  EXPECT_TRUE(printed("watch_vblanks on Virtual-1 crtc \\d+: refused: card0: vblank events on CRTC \\d+: the driver has "
                      "no vblank interrupts \\(Operation not supported, errno 95\\)")) << console.console();
  EXPECT_TRUE(printed("kernel answers WAIT_VBLANK with an event on crtc \\d+: errno=95")) << console.console();
  EXPECT_EQ(expect_shown(head0, Pattern::A, dir, "kms-head0-modeset"), "");
  EXPECT_EQ(expect_shown(head1, Pattern::B, dir, "kms-head1-modeset"), "");

  // Lease of output 2: the master is refused there, the lessee sees and drives only it.
  ASSERT_TRUE(console.send_line("go"));
  ASSERT_TRUE(step("lessee")) << console.console();
  const std::string text = console.console();
  EXPECT_TRUE(printed("leased Virtual-2 \\(connector \\d+, crtc \\d+, 2 planes\\) to lessee \\d+; lessees listed=1")) << text;
  EXPECT_TRUE(printed("master commit to leased crtc \\d+ refused errno=13 \\(object \\d+ is leased to lessee \\d+\\)")) << text;
  EXPECT_TRUE(printed("lessee sees outputs=1 crtcs=1 planes=2: Virtual-2\r?\n")) << text;
  EXPECT_TRUE(printed("lessee commit to Virtual-1 refused errno=22 \\(object \\d+ is not one of this display's\\)")) << text;
  EXPECT_TRUE(printed("lessee flipped Virtual-2 to pattern C: event crtc=\\d+ sequence=\\d+ user_data=0xc0ffee")) << text;
  EXPECT_TRUE(printed("lessee counters tests=1 commits=1 refused=1 allow_modeset=0 events=1")) << text;
  EXPECT_EQ(expect_shown(head1, Pattern::C, dir, "kms-head1-lessee"), "");
  EXPECT_EQ(expect_shown(head0, Pattern::A, dir, "kms-head0-lessee"), "");  // output 1 untouched

  // The lessee exits: its lease ends with its fd.
  ASSERT_TRUE(console.send_line("go"));
  ASSERT_TRUE(console.expect(std::regex("kms-probe: (done|FAIL)"), kBoot)) << console.console();
  EXPECT_TRUE(printed("lessee exited status=0; lessees listed=0")) << console.console();
  EXPECT_TRUE(printed("master counters tests=1 commits=1 refused=1 allow_modeset=2 events=2")) << console.console();
  EXPECT_TRUE(console.expect(std::regex("vgpu-kms-probe exited with status 0"), 60s)) << console.console();
  EXPECT_EQ(vm.wait_exit(60s), 0) << vm.logs();
}

}  // namespace
}  // namespace vgd
