// libdrm's modetest on the guest's DRM driver vgpu_drm in a real QEMU VM (docs/guest-driver.md,
// docs/vm.md): run in the VM's shell with its test pattern on the primary, an overlay plane and
// its cursor test, each is seen on the host as a consumer exports it; killing it gives the screen
// back to the framebuffer console. Label vm; skipped, saying why, without QEMU, the image or the
// driver in it.
#include <regex>
#include <sstream>

#include "vm_drm_support.h"

namespace vgd {
namespace {

using test::VmDrmTest;

// The ids `modetest -c -p` lists: the first connected connector, the first CRTC and the first
// overlay plane that CRTC can take (0 where none was found).
struct ModetestIds {
  uint32_t connector = 0, crtc = 0, overlay = 0;
};

ModetestIds parse_ids(const std::string& listing) {
  ModetestIds ids;
  std::istringstream in(listing);
  std::string section;
  uint32_t plane = 0, possible = 0;
  bool in_type = false;
  const std::regex object("^(\\d+)\t.*"), property("^\t\\d+ (\\S+):$"), value("^\t\tvalue: (\\d+)$");
  const std::regex possible_crtcs("\t0x([0-9a-fA-F]+)$");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    std::erase(line, '\r');
    if (!line.empty() && line.back() == ':' && line.find('\t') == std::string::npos && line[0] != ' ') {
      section = line;
    } else if (std::regex_match(line, m, object)) {
      const auto id = static_cast<uint32_t>(std::stoul(m[1]));
      if (section == "Connectors:" && !ids.connector && line.find("\tconnected\t") != std::string::npos) ids.connector = id;
      if (section == "CRTCs:" && !ids.crtc) ids.crtc = id;
      if (section == "Planes:") {
        plane = id;
        possible = std::regex_search(line, m, possible_crtcs) ? static_cast<uint32_t>(std::stoul(m[1], nullptr, 16)) : 0;
        in_type = false;
      }
    } else if (section == "Planes:" && std::regex_match(line, m, property)) {
      in_type = m[1] == "type";
    } else if (section == "Planes:" && in_type && std::regex_match(line, m, value)) {
      // DRM's plane types: Overlay=0 Primary=1 Cursor=2; the first CRTC is bit 0.
      if (m[1] == "0" && (possible & 1) && !ids.overlay) ids.overlay = plane;
      in_type = false;
    }
  }
  return ids;
}

// modetest's SMPTE pattern in the primary's top band (its upper two thirds): seven bars of a
// seventh of the width each, grey, yellow, cyan, green, magenta, red, blue (75% intensity). The
// bars are told by which channels are lit: at least half on, the others at most a quarter.
bool shows_smpte_bars(const fb::Image& img, std::string& why) {
  // Lit channels (R, G, B as bits 2, 1, 0) of each bar, left to right.
  constexpr uint32_t kBars[7] = {0b111, 0b110, 0b011, 0b010, 0b101, 0b100, 0b001};
  for (uint32_t i = 0; i < 7; ++i) {
    const uint32_t x = (2 * i + 1) * img.width / 14;
    const uint32_t first = img.at(x, img.height / 10);
    for (const uint32_t y : {img.height / 10, img.height / 3, img.height * 6 / 9 - 8}) {
      const uint32_t px = img.at(x, y);
      uint32_t lit = 0;
      bool clear = true;
      for (uint32_t c = 0; c < 3; ++c) {
        const uint32_t v = px >> (8 * c) & 0xff;
        lit |= (v >= 0x80) << c;
        clear = clear && (v >= 0x80 || v <= 0x40);
      }
      if (!clear || lit != kBars[i] || px != first) {
        why = fmt::format("bar {} at ({}, {}) is {:#08x}", i, x, y, px & 0xffffff);
        return false;
      }
    }
  }
  return true;
}

TEST_F(VmDrmTest, ModetestsPatternsReachEveryPlaneAndTheConsoleComesBack) {
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_EQ(sh("echo 0 > /sys/class/graphics/fbcon/cursor_blink").status, 0);  // a still console
  const auto console = picture_when([](const fb::Image&) { return true; });
  ASSERT_TRUE(console.has_value()) << "no primary plane to export\n" << vm->logs();

  const auto listing = sh("modetest -M vgpu_drm -c -p");
  ASSERT_EQ(listing.status, 0) << listing.output;
  const ModetestIds ids = parse_ids(listing.output);
  ASSERT_TRUE(ids.connector && ids.crtc && ids.overlay) << "connector " << ids.connector << ", CRTC " << ids.crtc
                                                       << ", overlay " << ids.overlay << " in\n" << listing.output;
  // modetest keeps its planes until a line on its stdin: a pipe that never gives one. The
  // braces keep the background job in this shell, so $! is modetest's process id.
  const auto started = sh(fmt::format("{{ sleep 100000 | modetest -M vgpu_drm -s {0}@{1}:1024x768 -P {2}@{1}:300x200+100+100 -C "
                                      "> /modetest.log 2>&1 & }}; echo $!",
                                      ids.connector, ids.crtc, ids.overlay));
  std::smatch last;
  const bool has_pid = std::regex_search(started.output, last, std::regex("(\\d+)\n?$"));
  const uint32_t pid = has_pid ? static_cast<uint32_t>(std::stoul(last[1])) : 0;
  ASSERT_GT(pid, 0u) << started.output;
  const auto modetest_log = [&] { return sh("cat /modetest.log").output; };

  std::string why;
  const auto bars = picture_when([&](const fb::Image& i) { return shows_smpte_bars(i, why); });
  ASSERT_TRUE(bars.has_value()) << "no primary plane to export\n" << modetest_log();
  EXPECT_TRUE(shows_smpte_bars(*bars, why)) << why << "; " << test::saved(*bars, "modetest") << "\n" << modetest_log();
  EXPECT_EQ(bars->width, 1024u);
  EXPECT_EQ(bars->height, 768u);

  // The overlay where modetest put it, and the cursor it moves about.
  proto::GfxPlaneInfo sprite{}, cursor{};
  EXPECT_TRUE(test::eventually([&] {
    auto s = session->query(proto::kPlaneOverlay);
    if (s) sprite = *s;
    return s && !client::no_plane(*s) && sprite.x_pos == 100 && sprite.y_pos == 100;
  }, test::kPicture)) << "overlay " << sprite.width << "x" << sprite.height << " at " << proto::signed_pos(sprite.x_pos)
                      << "," << proto::signed_pos(sprite.y_pos) << "\n" << modetest_log();
  EXPECT_EQ(sprite.width, 300u);
  EXPECT_EQ(sprite.height, 200u);
  EXPECT_TRUE(test::eventually([&] {
    auto c = session->query(proto::kPlaneCursor);
    if (c) cursor = *c;
    return c && !client::no_plane(*c);
  }, test::kPicture)) << "the cursor plane never showed\n" << modetest_log();

  // Killed, modetest closes the device and the driver's fbdev takes the CRTC back: the console's
  // picture again, the overlay and the cursor off.
  EXPECT_EQ(sh(fmt::format("kill {}", pid)).status, 0);
  const auto back = picture_when([&](const fb::Image& i) { return i.px == console->px; });
  ASSERT_TRUE(back.has_value()) << "no primary plane after modetest\n" << vm->logs();
  EXPECT_FALSE(shows_smpte_bars(*back, why)) << "modetest's bars stayed on the primary";
  EXPECT_TRUE(back->px == console->px) << "the primary is not the console's picture again; "
                                        << test::saved(*back, "after-modetest");
  auto s = session->query(proto::kPlaneOverlay);
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_TRUE(client::no_plane(*s)) << "the overlay stayed on after modetest";
  auto c = session->query(proto::kPlaneCursor);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_TRUE(client::no_plane(*c)) << "the cursor stayed on after modetest";
}

}  // namespace
}  // namespace vgd
