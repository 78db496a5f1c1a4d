// Clang's thread-safety analysis (-Wthread-safety): which lock guards which state, checked at
// compile time. Other compilers see empty macros. The clang-14 preset `threads` builds with
// -Werror=thread-safety (docs/design.md, "Ownership").
#pragma once

#include <mutex>

#if defined(__clang__)
#define VGD_TSA(x) __attribute__((x))
#else
#define VGD_TSA(x)
#endif

#define CAPABILITY(x) VGD_TSA(capability(x))
#define SCOPED_CAPABILITY VGD_TSA(scoped_lockable)
#define GUARDED_BY(x) VGD_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) VGD_TSA(pt_guarded_by(x))
#define REQUIRES(...) VGD_TSA(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) VGD_TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...) VGD_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) VGD_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) VGD_TSA(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) VGD_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS VGD_TSA(no_thread_safety_analysis)

namespace vgd {

// std::mutex with the annotations (libstdc++'s carries none).
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds any annotated lockable for a scope.
template <class M>
class SCOPED_CAPABILITY Locked {
 public:
  explicit Locked(M& m) ACQUIRE(m) : m_(&m) { m_->lock(); }
  ~Locked() RELEASE() { m_->unlock(); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  M* m_;
};

}  // namespace vgd
