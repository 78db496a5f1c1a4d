// daemon_bench's bare timer baselines (TimerPair, see common.h): the latency and dispatch parts
// run them alone and beside the daemon.
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common.h"

namespace vgd::daemon_bench {
namespace {

// Blocks in epoll_wait() on `fd` and `stop`; for each 8-byte read of `fd`, calls
// on_read(value, time of the read) until `stop` is poked.
template <class OnRead>
void read_until_stop(int fd, int stop, OnRead&& on_read) {
  UniqueFd ep = epoll_of({{fd, 0}, {stop, kStopTag}});
  for (;;) {
    epoll_event ev{};
    if (::epoll_wait(ep.get(), &ev, 1, -1) != 1) continue;
    if (ev.data.u64 == kStopTag) return;
    uint64_t v = 0;
    if (::read(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) continue;
    on_read(v, now_ns());
  }
}

}  // namespace

TimerPair::TimerPair(std::atomic<bool>& rec, int cpu_) : recording(&rec), cpu(cpu_) {
  a = std::thread([this] { run_a(); });
  b = std::thread([this] { run_b(); });
}

void TimerPair::finish() {
  if (!a.joinable()) return;
  poke(stop.get());
  a.join();
  b.join();
}

void TimerPair::run_a() {
  if (cpu >= 0) set_affinity(::pthread_self(), cpu);
  UniqueFd tfd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  const int64_t first = now_ns() + kPeriod;
  itimerspec spec{};
  spec.it_value = {static_cast<time_t>(first / 1'000'000'000), static_cast<long>(first % 1'000'000'000)};
  spec.it_interval = {0, kPeriod};
  ::timerfd_settime(tfd.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  uint64_t fired = 0;
  read_until_stop(tfd.get(), stop.get(), [&](uint64_t exp, int64_t t) {
    const int64_t d = first + static_cast<int64_t>(fired) * kPeriod;  // the oldest expiration read
    fired += exp;
    missed += exp - 1;
    deadline.store(d, std::memory_order_relaxed);
    if (recording->load(std::memory_order_relaxed)) a_lat.push_back(t - d);
    poke(hop.get());
  });
}

void TimerPair::run_b() {
  if (cpu >= 0) set_affinity(::pthread_self(), cpu);
  read_until_stop(hop.get(), stop.get(), [&](uint64_t, int64_t t) {
    if (recording->load(std::memory_order_relaxed)) b_lat.push_back(t - deadline.load(std::memory_order_relaxed));
  });
}

}  // namespace vgd::daemon_bench
