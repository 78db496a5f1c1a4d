// vgpu-kmstest on the vGPU's own DRM driver in a real QEMU VM (docs/vm.md, vgpu-kmstest): after
// every step the host's composed screen and a VNC client must show the scene the step lines
// describe, flips must reach the host one by one with one refresh event each and complete in
// the guest at device vblanks, and the bench must report one event per flip. Label vm; skipped
// while the guest image carries no vgpu-kmstest.
//
// How the image runs it is the image's /init: this test assumes `vgpu.run=kmstest` runs
// /bin/vgpu-kmstest with every `kmstest.NAME=VALUE` as `--NAME VALUE` (as tools/kmstest-dev/init
// does) and prints `... exited with status N`; the go-on lines come over a second serial port.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
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
#include "viewers/vnc_stream.h"
#include "vm_support.h"
#include "vnc_support.h"

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

std::optional<uint64_t> number(const kmstest::ReportLine& l, std::string_view key) {
  const auto v = l.get(key);
  uint64_t out = 0;
  if (!v || std::from_chars(v->data(), v->data() + v->size(), out).ec != std::errc{}) return std::nullopt;
  return out;
}

std::string line_text(const kmstest::ReportLine& l) {
  std::string s = l.name;
  for (const auto& [k, v] : l.fields) s += fmt::format(" {}={}", k, v);
  return s;
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
  uint64_t host_vblanks() {
    auto* hv = daemon.host->find(1);
    const Locked lk(hv->lock());
    return hv->vgpu().display().stats().vblanks[0];
  }
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

// After every step the host's composed screen and a VNC client show the scene the step lines
// describe; each flip latches once on the host and a consumer gets one primary refresh event for
// it; the guest's flip-done events come at device vblanks: their sequence grows from flip to
// flip, by no more than the vblanks the host's pipe counted meanwhile.
TEST_F(VmKmsTest, EveryStepReachesTheHostsScreen) {
  auto events = conn->open(1);
  ASSERT_TRUE(events.has_value()) << events.error().message;
  ASSERT_TRUE(events->enable_events().has_value());
  std::unique_ptr<viewers::VncStream> vnc;
  test::Viewer viewer;
  ASSERT_NO_FATAL_FAILURE(test::stream_to(daemon.path, vnc, viewer));

  boot("");
  kmstest::Scene scene;
  uint64_t flips_before = 0, vblanks_at_go = 0, vblanks_at_last_go = 0, primary_events = 0, flips = 0;
  std::optional<uint64_t> last_seq;
  for (size_t n = 0;; ++n) {
    const auto l = line(n);
    ASSERT_TRUE(l.has_value()) << "step line " << n << "\n" << vm->logs();
    ASSERT_TRUE(kmstest::apply_step(scene, *l)) << l->name;
    if (l->name == "flip") {
      EXPECT_EQ(host_flips(), flips_before + 1) << "flip " << *l->get("index") << " latched once on the host";
      ++flips;
      const auto seq = number(*l, "seq");
      ASSERT_TRUE(seq.has_value()) << "flip line without seq";
      if (last_seq) {
        EXPECT_GT(*seq, *last_seq) << "flip " << *l->get("index") << ": its event's sequence did not grow";
        // The last flip's event came after its go-on, this one's before its line: the host's
        // pipe counted at least as many vblanks in between as the guest's sequence moved.
        EXPECT_LE(*seq - *last_seq, host_vblanks() - vblanks_at_last_go) << "flip " << *l->get("index");
      }
      last_seq = seq;
      vblanks_at_last_go = vblanks_at_go;
      // Its refresh event reaches the consumer (in time: the event is published at the vblank
      // that latched the flip, which the guest may see first).
      test::eventually([&] {
        auto e = events->wait_events(100ms);
        if (e) primary_events += e->primary;
        return primary_events >= flips;
      }, 30s);
      EXPECT_EQ(primary_events, flips) << "one primary refresh event per flip";
    }
    flips_before = host_flips();
    if (scene.on) {
      const fb::Image want = scene_image(scene);
      auto* hv = daemon.host->find(1);
      {
        const Locked lk(hv->lock());
        auto pic = compose_display(hv->vgpu());
        ASSERT_TRUE(pic.has_value()) << l->name << ": " << pic.error();
        ASSERT_EQ(pic->image.width, scene.width) << l->name;
        ASSERT_EQ(pic->image.height, scene.height) << l->name;
        std::string first;
        EXPECT_EQ(test::differing_pixels(pic->image, want, first), 0u) << l->name << ": " << first;
      }
      // The VNC client: the picture without the cursor, which travels as its own shape and
      // position (docs/viewers.md, Cursor), cropped where its pointer would be off screen: the
      // shape must lie within the scene's cursor and hold all of what is on screen of it.
      kmstest::Scene under = scene;
      under.cursor.reset();
      const fb::Image want_vnc = scene_image(under);
      int cx = 0, cy = 0, cw = 0, ch = 0;
      const auto cursor_ok = [&] {
        const test::ViewerLog v = viewer.log();
        cx = v.cursor_x - v.hot_x, cy = v.cursor_y - v.hot_y, cw = v.cursor_w, ch = v.cursor_h;
        if (!scene.cursor) return true;
        const kmstest::Layer& c = *scene.cursor;
        const auto spans = [](int at, int len, int want_at, int want_len, int screen) {
          return at >= want_at && at + len <= want_at + want_len && at <= std::max(want_at, 0) &&
                 at + len >= std::min(want_at + want_len, screen);
        };
        return spans(cx, cw, c.x, int(c.width), int(scene.width)) && spans(cy, ch, c.y, int(c.height), int(scene.height));
      };
      const bool shown = test::eventually([&] { return cursor_ok() && viewer.shows(want_vnc); }, 30s);
      if (!shown) {
        const fb::Image got = viewer.picture();
        std::string first;
        const size_t bad = got.width == want_vnc.width && got.height == want_vnc.height ? test::differing_pixels(got, want_vnc, first) : 0;
        ADD_FAILURE() << line_text(*l) << ": the VNC client shows " << got.width << "x" << got.height << ", " << bad
                      << " pixels differ from the scene, the first at " << first << "; its cursor " << cw << "x" << ch
                      << " at " << cx << "," << cy;
      }
    }
    if (l->name == "off") break;
    // What arrived since: after a flip nothing more (a second event for it), before the next
    // step changes anything; after other steps their own events, not counted.
    auto e = events->wait_events(500ms);
    ASSERT_TRUE(e.has_value()) << e.error().message;
    if (l->name == "flip") {
      EXPECT_EQ(e->primary, 0u) << "before the step after `" << line_text(*l) << "`: more primary events than flips ("
                                << host_flips() << " primary flips latched on the host)";
    }
    vblanks_at_go = host_vblanks();
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
