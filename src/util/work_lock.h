// A mutex that never makes a poster wait: post() runs the lock's job at once when the lock is
// free, and otherwise leaves it to whoever holds the lock, who runs it as it unlocks. One vGPU's
// lock (docs/design.md, "Ownership"): the vblank thread posts the vGPU's vblank and moves on to
// the next vGPU, whether or not this one's guest is in the middle of a trap.
//
// No post is lost: a poster sets the flag before trying the lock, and every holder looks at the
// flag again after unlocking, retrying the lock while it is set. Posts made while the job is
// pending coalesce (the job reads what to do from its owner's state).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>

#include "util/thread_annotations.h"

namespace vgd {

class CAPABILITY("mutex") WorkLock {
 public:
  // `job` runs with the lock held, on whichever thread drains it.
  explicit WorkLock(std::function<void()> job = {}) : job_(std::move(job)) {}
  WorkLock(const WorkLock&) = delete;
  WorkLock& operator=(const WorkLock&) = delete;

  void set_job(std::function<void()> job) { job_ = std::move(job); }  // before any post()

  void lock() ACQUIRE() { mu_.lock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Runs the job if it was posted meanwhile, then releases.
  void unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS {
    for (;;) {
      while (posted_.exchange(false, std::memory_order_acq_rel))
        if (job_) job_();
      mu_.unlock();
      // A post that came after our last look found the lock taken: take it back for it, unless
      // another thread already did (then that thread runs it as it unlocks).
      if (!posted_.load(std::memory_order_acquire) || !mu_.try_lock()) return;
    }
  }

  // Any thread; never blocks.
  void post() NO_THREAD_SAFETY_ANALYSIS {
    posted_.store(true, std::memory_order_release);
    if (mu_.try_lock()) unlock();
  }
  // A post not yet run (the lock has been busy since).
  bool pending() const { return posted_.load(std::memory_order_acquire); }

 private:
  std::mutex mu_;
  std::atomic<bool> posted_{false};
  std::function<void()> job_;
};

}  // namespace vgd
