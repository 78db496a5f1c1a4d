// vgpud itself on a real KMS device (docs/vm.md, The kms test rig; docs/direct-flip.md, Leases):
// a QEMU VM with virtio-gpu and two outputs runs vgpud #1 as DRM master of the card, its guest
// direct-flipped to Virtual-1, and `vgpuctl lease Virtual-2 -- vgpud` (vgpud #2 on that lease,
// its guest on Virtual-2). Each guest's picture holds still at a known frame (hold_frame), so
// the test renders it itself: QEMU's VNC server shows Virtual-1 exactly as the guest's primary
// (reached through the guest's own flips; told to go on, its next flips change the output to the
// next held frame), and Virtual-2 exactly as the guest's 1920x1080
// picture composed and scaled to the output's mode (virtio-gpu cannot scale: the plane was
// refused and the pipe fell back). No commit of a guest flip carried ALLOW_MODESET; the lessee
// made no modeset at all. Label kms; skipped, saying why, without QEMU, gvnccapture or an image
// carrying vgpud.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <regex>

#include "fb/compose.h"
#include "hostdisplay/shadow_refill.h"
#include "kms_support.h"
#include "reference_pictures.h"
#include "vm_support.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kBoot = 600s;  // TCG on a loaded machine, two daemons starting
constexpr uint32_t kWidth = 1024, kHeight = 768;  // virtio-gpu's xres/yres: both outputs' mode
// tools/guest-image/vgpud-kms/{a,b}.toml
constexpr uint32_t kHoldA = 12, kHoldB = 3;
constexpr uint32_t kGuestBWidth = 1920, kGuestBHeight = 1080;

// The desktop's primary at frame n, as the guest drew it (the cursor is on its own plane).
fb::Image desktop_primary(uint32_t n, uint32_t w, uint32_t h) {
  test::Linear screen(w, h, guest::PixelFormat::Xrgb8888);
  guest::DesktopWorkload::render_scene(screen.canvas, n);
  return test::opaque_image(screen, w, h);
}

fb::Image desktop_cursor() {
  using guest::DesktopWorkload;
  fb::Image c{DesktopWorkload::kCursorSize, DesktopWorkload::kCursorSize,
              std::vector<uint32_t>(size_t{DesktopWorkload::kCursorSize} * DesktopWorkload::kCursorSize)};
  for (uint32_t y = 0; y < c.height; ++y)
    for (uint32_t x = 0; x < c.width; ++x) c.at(x, y) = DesktopWorkload::cursor_pixel(x, y);
  return c;
}

// The scaled fallback of a pipe showing the desktop at frame n (docs/direct-flip.md, Shadow
// framebuffers): primary and cursor composed at the guest's size, then scaled (aspect kept,
// black bars) into the output's mode.
fb::Image scaled_desktop(uint32_t n, uint32_t gw, uint32_t gh) {
  const fb::Image primary = desktop_primary(n, gw, gh);
  const fb::Image cursor = desktop_cursor();
  const guest::Point at = guest::DesktopWorkload::cursor_position(n, gw, gh);
  fb::Image picture = fb::compose(primary, nullptr, 0, 0, &cursor, at.x, at.y);
  for (uint32_t& p : picture.px) p &= 0x00FFFFFFu;
  fb::Image out{kWidth, kHeight, std::vector<uint32_t>(size_t{kWidth} * kHeight, 0)};
  hostdisplay::scale_bilinear(picture, out.px.data(), kWidth, hostdisplay::fit_rect(gw, gh, kWidth, kHeight));
  return out;
}

// Empty when every pixel of `img` is `want`'s (colour only: VNC has no alpha).
std::string differs(const fb::Image& img, const fb::Image& want, const char* what) {
  if (img.width != want.width || img.height != want.height)
    return fmt::format("a {}x{} picture, not {}x{}", img.width, img.height, want.width, want.height);
  std::string first;
  const size_t n = test::differing_pixels(img, want, first);
  return n ? fmt::format("{} pixels differ from {}, first at {}", n, what, first) : "";
}

// The JSON a `vgpud-kms: LABEL: {...}` line of the console carries.
json printed_json(const std::string& console, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(console, m, std::regex("vgpud-kms: " + label + ": (\\{[^\r\n]*\\}|\\[[^\r\n]*\\])")))
    return json();
  return json::parse(m[1].str(), nullptr, false);
}

const json* output_named(const json& outs, const std::string& name) {
  if (!outs.contains("outputs")) return nullptr;
  for (const json& o : outs["outputs"])
    if (o.value("name", "") == name) return &o;
  return nullptr;
}

TEST(KmsVgpudVm, TwoGuestsOnTwoOutputsOneThroughALease) {
  const test::VmTools tools = test::find_vm_tools();
  VGD_REQUIRE_VM(tools);
  if (!std::filesystem::exists(std::string(VGD_GUEST_IMAGE_DIR) + "/vgpud-kms.txt"))
    GTEST_SKIP() << "the guest image has no vgpud (the KMS backend needs libdrm-dev; rebuild guest-image)";
  if (!test::in_path("gvnccapture")) GTEST_SKIP() << "gvnccapture is not in PATH (Debian package gvncviewer)";
  std::array<int, 2> heads{};
  const auto vm_owner = test::boot_rig(tools, "vgpud-kms", kWidth, kHeight, "kms-vgpud", heads);
  test::Vm& vm = *vm_owner;
  const int head0 = heads[0], head1 = heads[1];
  ASSERT_GT(head0, 0);
  ASSERT_GT(head1, 0);
  ASSERT_TRUE(vm.shell().connected()) << vm.logs();
  auto& console = vm.shell();
  const auto step = [&](const char* name) {
    const auto line = console.expect(std::regex(fmt::format("vgpud-kms: (step {}|FAIL)", name)), kBoot);
    return line && line->find("FAIL") == std::string::npos;
  };
  const auto printed = [&](const std::string& pattern) { return std::regex_search(console.console(), std::regex(pattern)); };
  const std::string dir = ::testing::TempDir();

  // Both daemons up: #1 leased Virtual-2 (connector, CRTC, primary and cursor) to #2's vgpuctl.
  ASSERT_TRUE(step("up")) << console.console();
  EXPECT_TRUE(printed("Virtual-2 leased \\(lessee \\d+, CRTC \\d+, 2 planes\\) to vgpud as fd 3")) << console.console();
  const json outs_a = printed_json(console.console(), "outputs A"), outs_b = printed_json(console.console(), "outputs B");
  const json* a1 = output_named(outs_a, "Virtual-1");
  const json* a2 = output_named(outs_a, "Virtual-2");
  ASSERT_TRUE(a1 && a2) << outs_a.dump();
  EXPECT_EQ(a1->at("vgpu").at("id"), 1) << "the config's guest on Virtual-1";
  ASSERT_EQ(outs_b.at("outputs").size(), 1u) << "a lessee sees its lease only: " << outs_b.dump();
  EXPECT_EQ(outs_b["outputs"][0].value("name", ""), "Virtual-2");
  EXPECT_EQ(outs_b["outputs"][0].at("vgpu").at("id"), 1) << "#2's guest on the leased output";

  // Virtual-1: the guest's primary, exactly, once it holds still (through its own flips from
  // frame 0: frame kHoldA is another picture). QEMU's VNC server does not draw the cursor plane
  // (it is a VNC cursor for clients that ask; gvnccapture does not): the primary alone.
  const fb::Image want_a = desktop_primary(kHoldA, kWidth, kHeight);
  ASSERT_NE(differs(desktop_primary(0, kWidth, kHeight), want_a, "frame 0"), "") << "the held frame is another picture";
  EXPECT_EQ(test::expect_capture(head0, dir, "kms-vgpud-head0",
                                 [&](const fb::Image& img) { return differs(img, want_a, "the guest's primary"); }, 300s),
            "");
  // Virtual-2: the 1920x1080 guest composed and scaled into the output's 1024x768.
  const fb::Image want_b = scaled_desktop(kHoldB, kGuestBWidth, kGuestBHeight);
  EXPECT_EQ(test::expect_capture(head1, dir, "kms-vgpud-head1",
                                 [&](const fb::Image& img) { return differs(img, want_b, "the scaled composition"); }, 300s),
            "");

  // A guest flip changes the output: #1's guest goes on (SIGUSR1) from frame kHoldA to 2 kHoldA
  // through its own flips, and the output follows, without a modeset.
  ASSERT_TRUE(console.send_line("go"));
  ASSERT_TRUE(step("flip")) << console.console();
  const fb::Image want_a2 = desktop_primary(2 * kHoldA, kWidth, kHeight);
  EXPECT_EQ(test::expect_capture(head0, dir, "kms-vgpud-head0-flipped",
                                 [&](const fb::Image& img) { return differs(img, want_a2, "the next held frame"); }, 300s),
            "");
  const json before = printed_json(console.console(), "status A outputs before");

  // What the daemons say: the fallback, the lease, and no modeset but the lessor's lighting.
  ASSERT_TRUE(console.send_line("go"));
  ASSERT_TRUE(step("status")) << console.console();
  const json st_a = printed_json(console.console(), "status A outputs"), st_b = printed_json(console.console(), "status B outputs");
  const json vg_a = printed_json(console.console(), "status A vgpus"), vg_b = printed_json(console.console(), "status B vgpus");
  ASSERT_TRUE(st_a.is_object() && st_b.is_object() && vg_a.is_array() && vg_b.is_array()) << console.console();
  const json* leased = output_named(st_a, "Virtual-2");
  ASSERT_NE(leased, nullptr);
  EXPECT_TRUE(leased->at("lessee").is_number()) << "shown leased: " << leased->dump();
  EXPECT_EQ(st_a["requests"].value("leases", 0), 1);
  const json df_a = vg_a[0].at("direct_flip"), df_b = vg_b[0].at("direct_flip");
  EXPECT_GE(df_a.value("commits", 0), int{2 * kHoldA}) << "every guest flip committed: " << df_a.dump();
  EXPECT_GT(df_a.value("imports", 0) + df_a.value("refills", 0), 0) << df_a.dump();
  EXPECT_EQ(df_a.value("scaled_fallbacks", -1), 0) << df_a.dump();
  EXPECT_GT(df_b.value("scaled_fallbacks", 0), 0) << "the plane was refused: " << df_b.dump();
  // The cursor where it is: on #1's host cursor plane at the guest's CURPOS (the output has the
  // guest's mode: no scaling); composed into #2's scaled primary (checked in the capture).
  const guest::Point cur = guest::DesktopWorkload::cursor_position(2 * kHoldA, kWidth, kHeight);
  ASSERT_TRUE(df_a.at("cursor").is_object()) << df_a.dump();
  EXPECT_EQ(df_a["cursor"].value("x", -9999), cur.x) << df_a["cursor"].dump();
  EXPECT_EQ(df_a["cursor"].value("y", -9999), cur.y) << df_a["cursor"].dump();
  EXPECT_EQ(df_a["cursor"].value("width", 0), int{guest::DesktopWorkload::kCursorSize});
  EXPECT_EQ(df_a["cursor"].value("hot_x", -1), int{guest::DesktopWorkload::kHotX});
  EXPECT_EQ(df_a["cursor"].value("hot_y", -1), int{guest::DesktopWorkload::kHotY});
  EXPECT_TRUE(df_b.at("cursor").is_null()) << "composed: " << df_b.dump();
  const int modesets_a = st_a["host_commits"].value("with_allow_modeset", -1);
  EXPECT_GE(modesets_a, 1) << "lighting Virtual-2 before leasing it";
  EXPECT_LE(modesets_a, 2) << "and Virtual-1's bring-up if fbcon had not lit it";
  EXPECT_EQ(st_b["host_commits"].value("with_allow_modeset", -1), 0) << "the lessee got its CRTC lit";
  ASSERT_TRUE(before.is_object()) << console.console();
  EXPECT_EQ(before["host_commits"].value("with_allow_modeset", -2), modesets_a) << "the guest's flips made none";
  EXPECT_GE(st_a["host_commits"].value("commits", 0), before["host_commits"].value("commits", 0) + int{kHoldA});

  // #2 stops: its lease ends; #1 shows Virtual-2 free again; each commit's flags, from the logs.
  ASSERT_TRUE(console.send_line("go"));
  ASSERT_TRUE(console.expect(std::regex("vgpud-kms: (done|FAIL)"), kBoot)) << console.console();
  const std::string text = console.console();
  EXPECT_TRUE(printed("vgpud #2 exited status=0")) << text;
  EXPECT_TRUE(printed("vgpud #1 exited status=0")) << text;
  const json after = printed_json(text, "status A outputs after");
  const json* freed = output_named(after, "Virtual-2");
  ASSERT_NE(freed, nullptr) << text;
  EXPECT_TRUE(freed->at("lessee").is_null()) << freed->dump();
  EXPECT_EQ(after["requests"].value("leases_ended", 0), 1);
  EXPECT_TRUE(printed("b commits=\\d+ modesets=0")) << text;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex("a commits=(\\d+) modesets=(\\d+)"))) << text;
  EXPECT_GE(std::stoi(m[1]), int{kHoldA});
  EXPECT_GE(std::stoi(m[2]), 1);
  EXPECT_LE(std::stoi(m[2]), modesets_a) << "the counter counts every request with ALLOW_MODESET, refused ones too";
  EXPECT_FALSE(printed("modeset: .*PAGE_FLIP_EVENT")) << "a guest flip (with its page-flip event) modeset: " << text;
  EXPECT_TRUE(console.expect(std::regex("vgpud-kms exited with status 0"), 60s)) << text;
  EXPECT_EQ(vm.wait_exit(60s), 0) << vm.logs();
}

}  // namespace
}  // namespace vgd
