// The fixed-bucket histogram behind /metrics' latency histograms, and the event latency each
// vGPU records with it: from a vblank's deadline to its eventfds written, on the vGPU's clock.
#include <gtest/gtest.h>

#include "display/vblank_clock.h"
#include "events/vgpu_events.h"
#include "support.h"
#include "util/histogram.h"

namespace vgd {
namespace {

TEST(Histogram, BoundsAreInclusiveAndTheLastBucketTakesTheRest) {
  Histogram h{100, 10, 1000};  // given out of order: sorted
  ASSERT_EQ(h.bounds(), (std::vector<uint64_t>{10, 100, 1000}));
  ASSERT_EQ(h.buckets(), 4u);
  for (uint64_t v : {0, 10, 11, 100, 101, 1000, 1001, 5'000'000}) h.record(v);
  EXPECT_EQ(h.bucket(0), 2u) << "0 and 10: le=10 includes its bound";
  EXPECT_EQ(h.bucket(1), 2u) << "11 and 100";
  EXPECT_EQ(h.bucket(2), 2u) << "101 and 1000";
  EXPECT_EQ(h.bucket(3), 2u) << "above the last bound: +Inf";
  EXPECT_EQ(h.count(), 8u);
  EXPECT_EQ(h.sum(), 0u + 10 + 11 + 100 + 101 + 1000 + 1001 + 5'000'000);
}

TEST(Histogram, CumulativeCountsGrowAndEndAtTheCount) {
  Histogram h = latency_histogram();
  for (uint64_t v = 0; v < 40'000'000; v += 77'777) h.record(v);
  uint64_t prev = 0;
  for (size_t i = 0; i < h.buckets(); ++i) {
    EXPECT_GE(h.cumulative(i), prev) << "bucket " << i;
    prev = h.cumulative(i);
  }
  EXPECT_EQ(h.cumulative(h.buckets() - 1), h.count());
  EXPECT_EQ(h.cumulative(h.buckets() + 5), h.count()) << "past the end: everything";
}

TEST(Histogram, RepeatedBoundsMergeAndResetClears) {
  Histogram h{5, 5, 7};
  EXPECT_EQ(h.bounds(), (std::vector<uint64_t>{5, 7}));
  h.record(6);
  const Histogram snapshot = h;  // a copy is a snapshot
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.sum(), 0u);
  EXPECT_EQ(h.cumulative(2), 0u);
  EXPECT_EQ(snapshot.count(), 1u);
  EXPECT_EQ(snapshot.bucket(1), 1u);
}

TEST(Histogram, LatencyBucketsSpan25MicrosecondsTo25Milliseconds) {
  const Histogram h = latency_histogram();
  ASSERT_EQ(h.bounds().size(), 10u);
  EXPECT_EQ(h.bounds().front(), 25'000u);
  EXPECT_EQ(h.bounds().back(), 25'000'000u);
}

// A clock that dispatches each vblank a fixed time after its deadline, as a busy host would.
class LateClock final : public display::VblankClock {
 public:
  explicit LateClock(uint64_t lateness) : lateness_(lateness) {}
  uint64_t now_ns() const override { return now_; }
  // Dispatches the next deadline `lateness` late: the vGPU sees the deadline, the clock reads later.
  bool dispatch_next() {
    const uint64_t d = next_deadline();
    if (d == 0) return false;
    now_ = d + lateness_;
    fire_due(now_);
    return true;
  }

 private:
  uint64_t lateness_;
  uint64_t now_ = 1'000'000'000;
};

class EventLatency : public test::GpuTest {
 protected:
  void TearDown() override {
    ev.reset();
    gpu.reset();  // its vGPUs leave the clock before the clock goes
  }
  // A vGPU on `c` (kept by the fixture: the vGPU leaves it when destroyed) showing pipe A.
  template <class Clock>
  Clock& light(std::unique_ptr<Clock> c) {
    Clock& clock = *c;
    clock_ = std::move(c);
    gpu->set_vblank_clock(&clock);
    v = &create();
    ev = std::make_unique<events::VgpuEvents>(*v, &clock);
    constexpr uint32_t kEnable = 1u << 31;
    wr(*v, hw::plane::reg(hw::Pipe::A, hw::universal_index(hw::Plane::Primary), hw::plane::kCtl), kEnable);
    wr(*v, hw::pipe_reg(hw::Pipe::A, hw::pipe::kConf), kEnable);
    return clock;
  }
  std::unique_ptr<display::VblankClock> clock_;
  Vgpu* v = nullptr;
  std::unique_ptr<events::VgpuEvents> ev;
};

TEST_F(EventLatency, OnTimeVblanksRecordZero) {
  auto& clock = light(std::make_unique<display::VirtualClock>(1'000'000'000));
  ASSERT_TRUE(clock.advance_to_next());
  const Histogram& h = ev->latency();
  ASSERT_EQ(h.count(), 1u) << "the lit pipe's first vblank announces its picture";
  EXPECT_EQ(h.sum(), 0u) << "a virtual clock fires exactly at the deadline";
  EXPECT_EQ(h.bucket(0), 1u);
}

TEST_F(EventLatency, LateDispatchLandsInItsBucket) {
  auto& clock = light(std::make_unique<LateClock>(300'000));  // 300 us late
  ASSERT_TRUE(clock.dispatch_next());
  const Histogram& h = ev->latency();
  ASSERT_EQ(h.count(), 1u);
  EXPECT_EQ(h.sum(), 300'000u);
  EXPECT_EQ(h.cumulative(3), 0u) << "above 250 us";
  EXPECT_EQ(h.cumulative(4), 1u) << "within 500 us";
}

TEST_F(EventLatency, HandMadeVblanksAndQuietVblanksAreNotRecorded) {
  auto& clock = light(std::make_unique<display::VirtualClock>(1'000'000'000));
  v->vblank();  // by hand: no deadline
  EXPECT_EQ(ev->latency().count(), 0u);
  ASSERT_TRUE(clock.advance_to_next());  // nothing new to announce: no event, no sample
  EXPECT_EQ(ev->latency().count(), 0u);
  EXPECT_EQ(ev->hub().stats().published, 1u) << "only the pipe's first vblank published";
}

}  // namespace
}  // namespace vgd
