// The consumer misuse suites (consumer_misuse_test.cpp, consumer_misuse_protocol_test.cpp): an
// in-process vgpud hosting one desktop guest under tearing = hold, a well-behaved viewer on it
// through libvgd-client, and misbehaving consumers speaking raw packets (daemon_support.h). Each
// test has one misbehaving consumer and checks both that the daemon refuses or contains it as
// docs/protocol.md says, and that the viewer keeps seeing events, the plane and its buffer.
#pragma once

#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "client/client.h"
#include "daemon_support.h"
#include "hw/formats.h"

namespace vgd::test {

inline constexpr uint32_t kMisuseVgpu = 1;  // the desktop everyone opens

// A viewer as vgpu-view is one: waits for an event, queries the primary, maps its buffer, reads
// it and drops it (under hold the library releases it then).
class Viewer {
 public:
  explicit Viewer(const std::string& path) {
    auto c = client::Connection::connect(path, "good-viewer");
    if (!c) {
      ADD_FAILURE() << client::describe(c.error());
      return;
    }
    auto s = c->open(kMisuseVgpu);
    if (!s) {
      ADD_FAILURE() << client::describe(s.error());
      return;
    }
    conn_.emplace(std::move(*c));
    vgpu_.emplace(std::move(*s));
    if (auto ev = vgpu_->enable_events(); !ev) ADD_FAILURE() << client::describe(ev.error());
  }

  // One frame; `when` names the moment of the test in failures. A primary event must come within
  // 30 s (the guest flips every frame; the bound only catches a daemon that stopped).
  void look(std::string_view when) {
    ASSERT_TRUE(vgpu_) << when;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    uint64_t primary = 0;
    while (primary == 0 && std::chrono::steady_clock::now() < until) {
      auto ev = vgpu_->wait_events(std::chrono::seconds(1));
      ASSERT_TRUE(ev) << when << ": " << client::describe(ev.error());
      primary += ev->primary;
    }
    ASSERT_NE(primary, 0u) << when << ": no primary event within 30 s";
    auto plane = vgpu_->query(proto::kPlanePrimary);
    ASSERT_TRUE(plane) << when << ": " << client::describe(plane.error());
    EXPECT_EQ(plane->drm_format, hw::drm::kXRGB8888) << when;
    EXPECT_EQ(plane->width, 1024u) << when;
    EXPECT_EQ(plane->height, 768u) << when;
    ASSERT_NE(plane->dmabuf_id, 0u) << when;
    auto buf = vgpu_->buffer(*plane);
    ASSERT_TRUE(buf) << when << ": " << client::describe(buf.error());
    const client::MappedBuffer& b = **buf;
    EXPECT_EQ(b.width(), 1024u) << when;
    ASSERT_GE(b.size(), size_t{plane->stride} * plane->height) << when;
    volatile std::byte last = b.data()[b.size() - 1];  // the whole plane is mapped and readable
    (void)last;
    ++looks_;
  }
  int looks() const { return looks_; }

 private:
  std::optional<client::Connection> conn_;
  std::optional<client::VgpuSession> vgpu_;
  int looks_ = 0;
};

class MisuseTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kVgpu = kMisuseVgpu;

  void SetUp() override {
    DaemonConfig cfg;
    cfg.vgpus = {VgpuSpec{}};  // one desktop: a double-buffered primary flipping every frame, a cursor
    cfg.vgpus[0].tearing = TearingMode::Hold;
    daemon.start(cfg, "misuse");
    path = daemon.path;
    viewer = std::make_unique<Viewer>(path);
    viewer->look("before anything");
  }
  void TearDown() override {
    viewer.reset();
    daemon.stop();
  }

  // A raw connection, greeted, with the vGPU open.
  std::unique_ptr<Conn> consumer() {
    auto c = std::make_unique<Conn>(path);
    c->hello();
    EXPECT_TRUE(Conn::ok(c->call(proto::MsgType::Open, kVgpu)));
    return c;
  }
  server::ServerStats stats() const { return daemon.srv->stats(); }
  server::PortCounters port() {
    server::HostedVgpu& hv = *daemon.host->find(kVgpu);
    const Locked lk(hv.lock());
    return hv.port().counters();
  }
  uint32_t references_on(uint32_t id) {
    server::HostedVgpu& hv = *daemon.host->find(kVgpu);
    const Locked lk(hv.lock());
    return hv.port().exporter().exports_of(id);
  }
  // Waits (30 s at most) until the daemon has seen every client go but `live` of them.
  void settle(uint64_t live) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto left = [&] { const auto s = stats(); return s.connections - s.disconnects; };
    while (left() != live && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_EQ(left(), live) << "the daemon did not see its clients go within 30 s";
  }

  RunningDaemon daemon;
  std::string path;
  std::unique_ptr<Viewer> viewer;
};

}  // namespace vgd::test
