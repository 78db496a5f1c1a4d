// WorkLock: the vGPU's lock that a vblank is posted to. A post never waits, and never gets lost:
// it runs at once on a free lock, or as the holder unlocks.
#include "util/work_lock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace vgd {
namespace {

TEST(WorkLock, APostOnAFreeLockRunsAtOnce) {
  int runs = 0;
  WorkLock lock([&] { ++runs; });
  lock.post();
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(lock.pending());
}

TEST(WorkLock, APostOnAHeldLockRunsWhenTheHolderUnlocks) NO_THREAD_SAFETY_ANALYSIS {
  int runs = 0;
  WorkLock lock([&] { ++runs; });
  lock.lock();
  std::thread poster([&] { lock.post(); });  // another thread: returns without the lock
  poster.join();
  EXPECT_EQ(runs, 0) << "the poster did not wait for the lock, nor run the job without it";
  EXPECT_TRUE(lock.pending());
  lock.post();  // posts coalesce
  lock.unlock();
  EXPECT_EQ(runs, 1);
  EXPECT_FALSE(lock.pending());
}

TEST(WorkLock, TheJobRunsWithTheLockHeld) NO_THREAD_SAFETY_ANALYSIS {
  WorkLock* self = nullptr;
  bool held = false;
  WorkLock lock([&] { held = !self->try_lock(); });
  self = &lock;
  lock.post();
  EXPECT_TRUE(held);
}

// Two threads: one posts new values as fast as it can, one takes and drops the lock. Whatever
// the interleaving, the job has seen the last value once both are done.
TEST(WorkLock, NoPostIsLostUnderContention) NO_THREAD_SAFETY_ANALYSIS {
  constexpr int kPosts = 200'000;
  std::atomic<int> value{0};
  int seen = 0;  // only the job writes it, always with the lock held
  WorkLock lock([&] { seen = value.load(); });
  std::atomic<bool> done{false};
  std::thread holder([&] {
    while (!done.load()) {
      lock.lock();
      lock.unlock();
    }
  });
  for (int i = 1; i <= kPosts; ++i) {
    value.store(i);
    lock.post();
  }
  done = true;
  holder.join();
  lock.lock();
  EXPECT_EQ(seen, kPosts);
  lock.unlock();
}

}  // namespace
}  // namespace vgd
