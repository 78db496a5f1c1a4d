#include "display/vblank_clock.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace vgd::display {

namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;
constexpr uint32_t kDefaultMhz = 60'000;

[[noreturn]] void refuse_reentry() { throw std::logic_error("vblank clock: time advanced from inside a tick callback"); }

std::string sys_error(const char* call) { return std::string("vblank clock: ") + call + ": " + std::strerror(errno); }

}  // namespace

uint64_t period_ns_for_mhz(uint32_t refresh_mhz) {
  const uint64_t mhz = refresh_mhz ? refresh_mhz : kDefaultMhz;
  return (1'000'000'000'000ull + mhz / 2) / mhz;
}

// --- Timers ------------------------------------------------------------------------------------

TimerId VblankClock::add(std::function<void()> on_tick) {
  const Locked lk(mu_);
  const TimerId id = next_id_++;
  Timer& t = timers_[id];
  t.id = id;
  t.on_tick = std::move(on_tick);
  return id;
}

void VblankClock::remove(TimerId id) {
  const Locked lk(mu_);
  Timer* t = find(id);
  if (!t) return;
  stop(id);
  // Destroying a std::function while it runs would destroy the captures under its feet.
  if (t == firing_)
    t->removed = true;
  else
    timers_.erase(id);
}

void VblankClock::start(TimerId id, uint64_t period_ns) {
  const Locked lk(mu_);
  Timer* t = find(id);
  if (!t) return;
  if (period_ns == 0) return stop(id);
  const bool queued = t->heap_pos != kNotQueued;
  if (queued && t->period == period_ns) return;
  t->period = period_ns;
  t->deadline = now_ns() + period_ns;
  requeue(t);
}

void VblankClock::align(TimerId id, uint64_t period_ns, uint64_t phase_ns) {
  const Locked lk(mu_);
  Timer* t = find(id);
  if (!t) return;
  if (period_ns == 0) return stop(id);
  const uint64_t now = now_ns();
  // The first grid point strictly after now, phase before or after now alike.
  const uint64_t off = now >= phase_ns ? (now - phase_ns) % period_ns : (period_ns - (phase_ns - now) % period_ns) % period_ns;
  uint64_t next = now + (period_ns - off);
  if (t->last_tick && next < t->last_tick + period_ns / 2) next += period_ns;
  t->period = period_ns;
  t->deadline = next;
  requeue(t);
}

void VblankClock::requeue(Timer* t) {
  if (t->heap_pos != kNotQueued)
    heap_fix(t->heap_pos);
  else
    heap_push(t);
  changed();
}

void VblankClock::stop(TimerId id) {
  const Locked lk(mu_);
  Timer* t = find(id);
  if (!t || t->heap_pos == kNotQueued) return;
  heap_erase(t);
  changed();
}

bool VblankClock::running(TimerId id) const {
  const Locked lk(mu_);
  const Timer* t = find(id);
  return t && t->heap_pos != kNotQueued;
}

uint64_t VblankClock::ticks(TimerId id) const {
  const Locked lk(mu_);
  const Timer* t = find(id);
  return t ? t->ticks : 0;
}

uint64_t VblankClock::missed(TimerId id) const {
  const Locked lk(mu_);
  const Timer* t = find(id);
  return t ? t->missed : 0;
}

uint64_t VblankClock::next_tick_ns(TimerId id) const {
  const Locked lk(mu_);
  const Timer* t = find(id);
  return t && t->heap_pos != kNotQueued ? t->deadline : 0;
}

size_t VblankClock::timers() const {
  const Locked lk(mu_);
  return timers_.size();
}

uint64_t VblankClock::tick_ns() const {
  const Locked lk(mu_);
  return firing_ ? tick_ns_ : 0;
}

uint64_t VblankClock::next_deadline() const {
  const Locked lk(mu_);
  return heap_.empty() ? 0 : heap_.front()->deadline;
}

bool VblankClock::in_callback() const {
  const Locked lk(mu_);
  return firing_ != nullptr;
}

VblankClock::Timer* VblankClock::find(TimerId id) {
  auto it = timers_.find(id);
  return it == timers_.end() || it->second.removed ? nullptr : &it->second;
}

const VblankClock::Timer* VblankClock::find(TimerId id) const { return const_cast<VblankClock*>(this)->find(id); }

void VblankClock::changed() {
  if (!firing_) schedule_changed();
}

void VblankClock::fire_due(uint64_t now) {
  const Locked lk(mu_);
  if (firing_) refuse_reentry();
  // Whatever a callback throws, the clock must leave dispatch mode and re-arm.
  struct Done {
    VblankClock& c;
    ~Done() NO_THREAD_SAFETY_ANALYSIS {  // runs inside fire_due's lock
      c.firing_ = nullptr;
      c.schedule_changed();
    }
  } done{*this};
  while (!heap_.empty() && heap_.front()->deadline <= now) {
    Timer& t = *heap_.front();
    const uint64_t late = (now - t.deadline) / t.period;  // further deadlines slept through
    t.missed += late;
    tick_ns_ = t.deadline + late * t.period;
    t.last_tick = tick_ns_;
    t.deadline += (late + 1) * t.period;  // whole periods in integers: stays on base + k·period
    heap_fix(0);  // re-queued before the callback, which may stop or restart it
    ++t.ticks;
    firing_ = &t;
    t.on_tick();
    if (t.removed) timers_.erase(t.id);
  }
}

// --- Indexed min-heap --------------------------------------------------------------------------

bool VblankClock::earlier(const Timer* a, const Timer* b) {
  return a->deadline != b->deadline ? a->deadline < b->deadline : a->id < b->id;
}

void VblankClock::heap_place(size_t pos, Timer* t) {
  heap_[pos] = t;
  t->heap_pos = pos;
}

// Moves heap_[pos] up or down to where its (possibly new) key belongs.
void VblankClock::heap_fix(size_t pos) {
  Timer* const t = heap_[pos];
  while (pos > 0 && earlier(t, heap_[(pos - 1) / 2])) {
    heap_place(pos, heap_[(pos - 1) / 2]);
    pos = (pos - 1) / 2;
  }
  for (size_t child; (child = 2 * pos + 1) < heap_.size(); pos = child) {
    if (child + 1 < heap_.size() && earlier(heap_[child + 1], heap_[child])) ++child;
    if (!earlier(heap_[child], t)) break;
    heap_place(pos, heap_[child]);
  }
  heap_place(pos, t);
}

void VblankClock::heap_push(Timer* t) {
  heap_.push_back(t);
  heap_fix(heap_.size() - 1);
}

void VblankClock::heap_erase(Timer* t) {
  const size_t pos = t->heap_pos;
  Timer* const last = heap_.back();
  heap_.pop_back();
  t->heap_pos = kNotQueued;
  if (last == t) return;
  heap_place(pos, last);
  heap_fix(pos);
}

// --- Time sources ------------------------------------------------------------------------------

void VirtualClock::advance_to(uint64_t t) {
  if (in_callback()) refuse_reentry();  // even when nothing would fire: always a bug
  // One deadline at a time, with the clock reading exactly that deadline: every tick fires (none
  // is ever late here) and callbacks that start timers phase them from the tick's own time.
  for (uint64_t next; (next = next_deadline()) != 0 && next <= t;) {
    now_ = next;
    fire_due(next);
  }
  now_ = std::max(now_, t);
}

Expected<std::unique_ptr<RealClock>, std::string> RealClock::create() {
  UniqueFd tfd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!tfd) return Unexpected(sys_error("timerfd_create"));
  UniqueFd epfd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epfd) return Unexpected(sys_error("epoll_create1"));
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (::epoll_ctl(epfd.get(), EPOLL_CTL_ADD, tfd.get(), &ev) != 0) return Unexpected(sys_error("epoll_ctl"));
  return std::unique_ptr<RealClock>(new RealClock(std::move(tfd), std::move(epfd)));
}

uint64_t RealClock::now_ns() const {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
}

void RealClock::dispatch() {
  // Reading consumes the expiration, so the fd stops polling readable; the one-shot is now
  // disarmed. Nothing to read (a spurious call) leaves it armed.
  const Locked lk(mu_);
  uint64_t expirations = 0;
  if (::read(timer_fd_.get(), &expirations, sizeof expirations) == static_cast<ssize_t>(sizeof expirations))
    armed_ = 0;
  // A loop that woke several periods late gets one tick per timer, not a burst: vblanks that
  // were never delivered on time are history, and a burst would only make the guest race.
  fire_due(now_ns());
}

void RealClock::schedule_changed() {
  const uint64_t next = next_deadline();
  if (next == armed_) return;  // one syscall per change of the earliest deadline, not per tick
  itimerspec spec{};           // all zero disarms
  spec.it_value.tv_sec = static_cast<time_t>(next / kNsPerSec);
  spec.it_value.tv_nsec = static_cast<long>(next % kNsPerSec);
  // Absolute: a deadline already past fires at once, so nothing is lost to the call's latency.
  // Cannot fail for a valid fd and a normalized time.
  ::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  armed_ = next;
}

void RealClock::run_for(std::chrono::nanoseconds d) {
  const uint64_t end = now_ns() + static_cast<uint64_t>(std::max<int64_t>(d.count(), 0));
  for (uint64_t now; (now = now_ns()) < end;) {
    const uint64_t left_ms = (end - now + 999'999) / 1'000'000;  // round up: no busy spin at the end
    epoll_event ev{};
    const int n = ::epoll_wait(epoll_fd_.get(), &ev, 1, static_cast<int>(std::min<uint64_t>(left_ms, INT32_MAX)));
    if (n > 0) dispatch();
    if (n < 0 && errno != EINTR) return;  // only EBADF/EINVAL, which a valid clock cannot hit
  }
}

}  // namespace vgd::display
