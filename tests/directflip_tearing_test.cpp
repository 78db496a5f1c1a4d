// Tearing control and direct flip on one vGPU (docs/direct-flip.md, The engine; docs/design.md,
// Tearing control): both hold the guest's flip-done — tearing control ("hold") while a consumer
// holds the buffer the flip took off the screen, the PipeLink until the host display has shown
// the flip — so the guest's flip-done waits for both, in either order, and taking the link away
// leaves tearing control working.
#include <gtest/gtest.h>

#include <string>

#include "decode/decoder.h"
#include "directflip_support.h"
#include "exporter/exporter.h"
#include "exporter/tearing.h"
#include "proto/plane_abi.h"

namespace vgd {
namespace {

using exporter::ConsumerKey;
using guest::Error;
using hw::Pipe;
using hw::Plane;

constexpr ConsumerKey kViewer{1};

class DirectFlipTearingTest : public test::DirectFlipTest {
 protected:
  void SetUp() override {
    DirectFlipTest::SetUp();
    boot();
    exporter::ExporterOptions o;
    o.udmabuf = false;
    ex = std::make_unique<exporter::Exporter>(g->vgpu().ram_ref(), o);
    gate = std::make_unique<exporter::HoldGate>(*ex, [] { return uint64_t{0}; });
    g->vgpu().add_flip_done_gate(gate.get(), exporter::kHoldVblanks);
    g->vgpu().vblank();  // the first frame goes up
    host_vblank();
    (void)take_flip_done();
  }
  void TearDown() override {
    link.reset();
    g->vgpu().remove_flip_done_gate(gate.get());
  }
  // A consumer takes the buffer on screen (the front surface) and keeps it.
  uint32_t export_front() {
    proto::GfxPlaneInfo q;
    q.argsz = sizeof q, q.flags = proto::kFlagDmabuf, q.drm_plane_type = proto::kPlanePrimary;
    auto r = ex->query(kViewer, q,
                       decode::decode_plane(decode::snapshot(g->vgpu().vregs(), Pipe::A), Plane::Primary, g->vgpu().ggtt()));
    EXPECT_TRUE(r) << r.error().message;
    if (!r) return 0;
    EXPECT_TRUE(ex->get(kViewer, r->dmabuf_id)) << "get";
    return r->dmabuf_id;
  }
  void release(uint32_t id) {
    ASSERT_TRUE(ex->release(kViewer, id));
    g->vgpu().retry_held_flips();  // as the server does after a Release
  }
  // The guest flips to the back surface; its vblank latches the flip and commits it to the host.
  void flip_to_back() {
    draw(back, 1);
    ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, back), Error::None);
    g->vgpu().vblank();
    ASSERT_EQ(link->counters().commits, 2u) << "the flip went to the host";
  }

  std::unique_ptr<exporter::Exporter> ex;
  std::unique_ptr<exporter::HoldGate> gate;
};

TEST_F(DirectFlipTearingTest, FlipDoneWaitsForTheHostThenForTheConsumer) {
  const uint32_t held = export_front();
  flip_to_back();
  EXPECT_FALSE(take_flip_done()) << "neither the host nor the consumer is done";
  host_vblank();
  std::string where;
  EXPECT_EQ(mismatches(1, &where), 0u) << "the host shows the new frame: " << where;
  EXPECT_FALSE(take_flip_done()) << "the host showed it, but the consumer still holds the old front";
  release(held);
  EXPECT_TRUE(take_flip_done()) << "both are done";
  EXPECT_EQ(gate->counters().held, 1u);
  EXPECT_EQ(gate->counters().hold_timeouts, 0u);
  EXPECT_EQ(g->vgpu().display().stats().hold_timeouts, 0u);
}

TEST_F(DirectFlipTearingTest, FlipDoneWaitsForTheConsumerThenForTheHost) {
  const uint32_t held = export_front();
  flip_to_back();
  release(held);
  EXPECT_FALSE(take_flip_done()) << "the consumer let go, but the host has not shown the flip";
  host_vblank();
  EXPECT_TRUE(take_flip_done()) << "the host's page flip completes it";
  EXPECT_EQ(gate->counters().held, 1u);
  EXPECT_EQ(g->vgpu().display().stats().hold_timeouts, 0u);
}

TEST_F(DirectFlipTearingTest, WithoutTheLinkTearingControlStillHolds) {
  link.reset();
  const uint32_t held = export_front();
  draw(back, 1);
  ASSERT_EQ(g->display().queue_flip(Pipe::A, Plane::Primary, back), Error::None);
  g->vgpu().vblank();
  EXPECT_FALSE(take_flip_done()) << "the consumer holds the old front";
  release(held);
  EXPECT_TRUE(take_flip_done());
  EXPECT_EQ(g->vgpu().display().flip_done_gates().size(), 1u);
}

TEST_F(DirectFlipTearingTest, DestroyingTheLinkReleasesWhatOnlyItHeld) {
  flip_to_back();  // no consumer: only the link holds it
  EXPECT_FALSE(take_flip_done());
  link.reset();
  EXPECT_TRUE(take_flip_done()) << "the link is gone and tearing control has nothing to hold";
}

}  // namespace
}  // namespace vgd
