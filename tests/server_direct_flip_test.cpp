// Direct flip in the daemon (docs/protocol.md §3.10, docs/direct-flip.md "In the daemon"): vgpud
// in-process with a virtual monitor, one vGPU put on Virtual-1 by its config, another assigned
// by a client through libvgd-client. What the monitor scans out is the guest's picture; unassign
// and a client's disconnection turn the planes off; bad requests are refused and the daemon
// keeps serving.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "client/client.h"
#include "daemon_support.h"
#include "server/server.h"
#include "viewers/frame_grab.h"

namespace vgd {
namespace {

using namespace std::chrono_literals;
using proto::MsgType;
using proto::Status;

// Polls `f` for up to 30 s (a bound that catches hangs on a loaded machine, not a timing).
bool eventually(const std::function<bool()>& f) {
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return f();
}

bool all_black(const fb::Image& img) {
  for (uint32_t p : img.px)
    if ((p & 0xFFFFFF) != 0) return false;
  return true;
}

class DirectFlipServerTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kConfigured = 1, kFree = 2;

  void SetUp() override {
    DaemonConfig cfg;
    cfg.vgpus = {VgpuSpec{}, VgpuSpec{}};  // desktops, 1024x768
    cfg.vgpus[0].direct_flip = DirectFlipSpec{"Virtual-1", hw::Pipe::A};
    cfg.host_display.backend = HostDisplayConfig::Backend::Virtual;
    // The guests' own mode: imports, pixel for pixel, no scaling.
    cfg.host_display.outputs = {{"Virtual-1", 1024, 768, 60}, {"Virtual-2", 1024, 768, 60}};
    daemon.start(cfg, "direct-flip", {.max_clients = 8});
    ASSERT_NE(daemon.host, nullptr);
    links = daemon.host->links();
    ASSERT_NE(links, nullptr);
  }
  void TearDown() override { daemon.stop(); }

  client::Connection connect(const char* name = "direct-flip-test") {
    auto c = client::Connection::connect(daemon.path, name);
    EXPECT_TRUE(c) << client::describe(c.error());
    return std::move(*c);
  }
  std::optional<client::OutputInfo> output(client::Connection& c, std::string_view name) {
    auto outs = c.outputs();
    EXPECT_TRUE(outs) << client::describe(outs.error());
    if (!outs) return std::nullopt;
    for (const auto& o : outs->outputs)
      if (o.name == name) return o;
    return std::nullopt;
  }
  uint32_t crtc_of(std::string_view name) {
    for (const auto& o : links->outputs())
      if (o.name == name) return o.crtc;
    return 0;
  }
  std::shared_ptr<const fb::Image> screen(uint32_t crtc) { return links->virtual_monitor()->scanout(crtc).image; }
  // The guest's picture as a consumer composes it (primary, sprite, cursor).
  std::optional<fb::Image> guest_picture(client::VgpuSession& s) {
    auto f = viewers::query_planes(s);
    if (!f || !viewers::map_buffers(s, *f)) return std::nullopt;
    auto img = viewers::compose_frame(*f);
    viewers::drop_buffers(*f);
    if (!img) return std::nullopt;
    return std::move(*img);
  }

  test::RunningDaemon daemon;
  server::DisplayLinks* links = nullptr;
};

TEST_F(DirectFlipServerTest, HelloSaysDirectFlipAndTheConfiguredVgpuIsOnItsOutput) {
  client::Connection c = connect();
  EXPECT_TRUE(c.server().features & proto::kFeatureDirectFlip);
  auto outs = c.outputs();
  ASSERT_TRUE(outs) << client::describe(outs.error());
  EXPECT_EQ(outs->display, "virtual");
  ASSERT_EQ(outs->outputs.size(), 2u);
  const client::OutputInfo& one = outs->outputs[0];
  EXPECT_EQ(one.name, "Virtual-1");
  EXPECT_TRUE(one.connected);
  EXPECT_EQ(one.width, 1024u);
  EXPECT_EQ(one.height, 768u);
  EXPECT_EQ(one.refresh_mhz, 60'000u);
  EXPECT_EQ(one.vgpu, kConfigured);
  EXPECT_EQ(one.pipe, 'A');
  EXPECT_TRUE(one.by_config);
  EXPECT_EQ(outs->outputs[1].vgpu, 0u) << "Virtual-2 is free";
  // The configured guest's frames reach Virtual-1.
  const uint32_t crtc = crtc_of("Virtual-1");
  ASSERT_NE(crtc, 0u);
  EXPECT_TRUE(eventually([&] {
    auto img = screen(crtc);
    return img && !all_black(*img);
  })) << "the desktop shows on Virtual-1";
}

TEST_F(DirectFlipServerTest, AnAssignedGuestsFlipsReachTheMonitorAndUnassignTurnsThePlanesOff) {
  client::Connection c = connect();
  auto done = c.assign_output(kFree, "Virtual-2");
  ASSERT_TRUE(done) << client::describe(done.error());
  EXPECT_EQ(done->name, "Virtual-2");
  EXPECT_EQ(done->vgpu, kFree);
  EXPECT_FALSE(done->by_config);
  auto listed = output(c, "Virtual-2");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->vgpu, kFree) << "ListOutputs shows the assignment";
  const uint32_t crtc = crtc_of("Virtual-2");
  ASSERT_NE(crtc, 0u);
  ASSERT_TRUE(eventually([&] { return screen(crtc) && !all_black(*screen(crtc)); })) << "the guest's frames arrive";

  // With the guests still, the last frame the guest flipped is what the monitor shows.
  daemon.host->stop_guests();
  auto session = c.open(kFree);
  ASSERT_TRUE(session) << client::describe(session.error());
  std::optional<fb::Image> want;
  EXPECT_TRUE(eventually([&] {
    want = guest_picture(*session);
    auto img = screen(crtc);
    return want && img && img->width == want->width && img->height == want->height && img->px == want->px;
  })) << "Virtual-2 scans out the guest's picture, pixel for pixel";
  {
    const server::HostedVgpu* hv = daemon.host->find(kFree);
    ASSERT_NE(hv, nullptr);
    const auto st = daemon.host->find(kFree)->published();
    ASSERT_TRUE(st.direct_flip) << "the vGPU's status has its direct_flip block";
    EXPECT_EQ(st.direct_flip->output, "Virtual-2");
    EXPECT_GT(st.direct_flip->counters.commits, 0u);
    EXPECT_GT(st.direct_flip->counters.imports, 0u) << "the guest's pages, without a copy";
  }
  EXPECT_EQ(links->display_counters().with_allow_modeset, 2u) << "the bring-ups of Virtual-1 and -2 only";

  auto off = c.unassign_output(kFree);
  ASSERT_TRUE(off) << client::describe(off.error());
  EXPECT_TRUE(eventually([&] { return screen(crtc) && all_black(*screen(crtc)); })) << "planes off, the CRTC lit";
  EXPECT_EQ(output(c, "Virtual-2")->vgpu, 0u);
  EXPECT_FALSE(daemon.host->find(kFree)->published().direct_flip);
  // And it can be assigned again.
  ASSERT_TRUE(c.assign_output(kFree, "Virtual-2"));
}

// The host-display thread routes each vblank event of a link's CRTC to it, under its vGPU's lock:
// the guest's vblank timer follows the output's vblanks (docs/direct-flip.md, One clock), and
// returns to the guest's own when the assignment ends.
TEST_F(DirectFlipServerTest, TheOutputsVblanksDriveTheAssignedGuestsClockUntilUnassigned) {
  server::HostedVgpu* hv = daemon.host->find(kFree);
  ASSERT_NE(hv, nullptr);
  const auto locked = [hv] {
    const Locked l(hv->lock());
    return hv->vgpu().vblank_locked();
  };
  EXPECT_FALSE(locked()) << "on no output: its own clock";
  client::Connection c = connect();
  ASSERT_TRUE(c.assign_output(kFree, "Virtual-2"));
  EXPECT_TRUE(eventually([&] {
    const auto st = hv->published().direct_flip;
    return st && st->clock == "host" && st->counters.host_vblanks >= 10 && st->counters.clock_aligns >= 1;
  })) << "vblank events of Virtual-2 reach vGPU 2's link";
  EXPECT_TRUE(locked());
  const auto st = hv->published().direct_flip;
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->clock_reason.empty()) << st->clock_reason;
  EXPECT_GE(st->counters.lead_us, 1000u);
  EXPECT_LE(st->counters.lead_us, 16'667u / 2);
  EXPECT_GE(links->stats().vblanks, 10u);
  // The configured vGPU on Virtual-1 follows its own output.
  EXPECT_TRUE(eventually([&] {
    const auto one = daemon.host->find(kConfigured)->published().direct_flip;
    return one && one->counters.host_vblanks >= 10;
  }));

  ASSERT_TRUE(c.unassign_output(kFree));
  EXPECT_FALSE(locked()) << "its own programmed clock again";
}

TEST_F(DirectFlipServerTest, AClientsAssignmentEndsWhenItDisconnects) {
  const uint32_t crtc = crtc_of("Virtual-2");
  {
    client::Connection holder = connect("holder");
    ASSERT_TRUE(holder.assign_output(kFree, "Virtual-2"));
    ASSERT_TRUE(eventually([&] { return crtc_of("Virtual-2") && screen(crtc_of("Virtual-2")) &&
                                        !all_black(*screen(crtc_of("Virtual-2"))); }));
  }  // the holder goes
  client::Connection c = connect();
  EXPECT_TRUE(eventually([&] { return output(c, "Virtual-2")->vgpu == 0; })) << "consumer gone, output released";
  EXPECT_TRUE(eventually([&] { return all_black(*screen(crtc_of("Virtual-2"))); }));
  EXPECT_EQ(output(c, "Virtual-1")->vgpu, kConfigured) << "the config's assignment stays";
  EXPECT_EQ(links->stats().released, 1u);
  (void)crtc;
}

TEST_F(DirectFlipServerTest, BadRequestsAreRefusedAndTheDaemonKeepsServing) {
  client::Connection c = connect();
  const auto refused = [](const auto& r, Status want) { return !r && r.error().code == want; };
  EXPECT_TRUE(refused(c.assign_output(kFree, "HDMI-A-9"), Status::NoEntry)) << "unknown output";
  EXPECT_TRUE(refused(c.assign_output(kFree, "Virtual-1"), Status::Busy)) << "Virtual-1 shows vGPU 1";
  EXPECT_TRUE(refused(c.assign_output(kConfigured, "Virtual-2"), Status::Busy)) << "vGPU 1 is on an output already";
  EXPECT_TRUE(refused(c.assign_output(99, "Virtual-2"), Status::NoEntry)) << "no vGPU 99";
  EXPECT_TRUE(refused(c.assign_output(kFree, "Virtual-2", 7), Status::Invalid)) << "no pipe 7";
  EXPECT_TRUE(refused(c.unassign_output(kFree), Status::NoEntry)) << "vGPU 2 is on no output";
  EXPECT_GE(links->stats().refused, 4u);
  // A body too short is a protocol error: that client is closed, the others are served.
  {
    test::Conn raw(daemon.path);
    raw.hello();
    const proto::Packet r = raw.call(MsgType::AssignOutput, kFree);
    EXPECT_EQ(proto::error_code(r), Status::Protocol);
  }
  auto outs = c.outputs();
  ASSERT_TRUE(outs) << client::describe(outs.error());
  EXPECT_EQ(outs->outputs[1].vgpu, 0u);
  ASSERT_TRUE(c.assign_output(kFree, "Virtual-2")) << "a good request after all that";
}

// LeaseOutput (docs/protocol.md §3.11) on a display that cannot lease: refused saying why, and
// counted; a lease on a KMS card runs in the kms rig (tests/kms_vgpud_test.cpp).
TEST_F(DirectFlipServerTest, AVirtualMonitorCannotLeaseAnOutput) {
  client::Connection c = connect();
  EXPECT_TRUE(c.server().features & proto::kFeatureLease) << "the daemon knows the request";
  const uint64_t refused_before = links->stats().refused;
  auto l = c.lease_output("Virtual-2");
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().code, Status::NotSupported);
  EXPECT_NE(l.error().message.find("virtual monitor"), std::string::npos) << l.error().message;
  EXPECT_EQ(c.lease_output("HDMI-A-9").error().code, Status::NotSupported) << "whatever the output";
  EXPECT_EQ(links->stats().refused, refused_before + 2);
  EXPECT_EQ(links->stats().leases, 0u);
  EXPECT_EQ(output(c, "Virtual-2")->lessee, 0u);
  {
    test::Conn raw(daemon.path);
    raw.hello();
    EXPECT_EQ(proto::error_code(raw.call(MsgType::LeaseOutput, 0, proto::LeaseRequest{})), Status::Invalid) << "no name";
    EXPECT_EQ(proto::error_code(raw.call(MsgType::LeaseOutput)), Status::Protocol) << "no body";
  }
  ASSERT_TRUE(c.assign_output(kFree, "Virtual-2")) << "still serving; the output is free";
}

TEST(DirectFlipServerOff, WithoutAHostDisplayTheRequestsAreNotSupported) {
  test::RunningDaemon daemon;
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};
  daemon.start(cfg, "no-direct-flip", {.max_clients = 4});
  EXPECT_EQ(daemon.host->links(), nullptr);
  auto c = client::Connection::connect(daemon.path, "test");
  ASSERT_TRUE(c) << client::describe(c.error());
  EXPECT_FALSE(c->server().features & proto::kFeatureDirectFlip);
  auto outs = c->outputs();
  ASSERT_FALSE(outs);
  EXPECT_EQ(outs.error().code, Status::NotSupported);
  EXPECT_NE(outs.error().message.find("no host display"), std::string::npos) << outs.error().message;
  EXPECT_EQ(c->assign_output(1, "Virtual-1").error().code, Status::NotSupported);
  EXPECT_FALSE(c->server().features & proto::kFeatureLease);
  EXPECT_EQ(c->lease_output("Virtual-1").error().code, Status::NotSupported);
  EXPECT_TRUE(c->list()) << "still serving";
}

TEST(DirectFlipServerOff, AHostDisplayThatCannotBeOpenedStopsTheDaemonSayingWhy) {
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};
  cfg.host_display.backend = HostDisplayConfig::Backend::Kms;
  cfg.host_display.card = "/nonexistent/card9";
  auto h = server::Host::create(cfg);
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().find("host_display"), std::string::npos) << h.error();
  // An output the display lacks, for a configured vGPU (the config checks virtual names; a
  // card's are known only once it is open): refused at start, naming the vGPU.
  cfg.host_display.backend = HostDisplayConfig::Backend::Virtual;
  cfg.host_display.outputs = {{"Virtual-1", 1024, 768, 60}};
  cfg.vgpus[0].direct_flip = DirectFlipSpec{"HDMI-A-1", hw::Pipe::A};
  auto h2 = server::Host::create(cfg);
  ASSERT_FALSE(h2);
  EXPECT_NE(h2.error().find("vGPU 1 direct_flip"), std::string::npos) << h2.error();
  EXPECT_NE(h2.error().find("HDMI-A-1"), std::string::npos) << h2.error();
}

}  // namespace
}  // namespace vgd
