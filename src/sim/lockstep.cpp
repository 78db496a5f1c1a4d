#include "sim/lockstep.h"

#include <algorithm>
#include <thread>

namespace vgd {

Lockstep::Lockstep(display::VirtualClock& clock, size_t guests) : clock_(&clock), state_(guests, State::Ready) {
  for (size_t i = 0; i < guests; ++i) ports_.push_back(std::make_unique<Port>(*this, i));
}

void Lockstep::pass_turn(size_t i) {
  const size_t n = state_.size();
  const auto next_ready = [&]() -> size_t {
    for (size_t k = 1; k <= n; ++k)
      if (state_[(i + k) % n] == State::Ready) return (i + k) % n;
    return n;
  };
  size_t next = next_ready();
  if (next == n) {
    if (std::ranges::none_of(state_, [](State s) { return s == State::Idle; })) {
      turn_ = n;  // everyone is done
      return cv_.notify_all();
    }
    // Every guest waits: time moves on. A clock with no running timer cannot wake anyone, so the
    // guests are let go anyway and find their wait timed out.
    clock_->advance_to_next();
    std::ranges::replace(state_, State::Idle, State::Ready);
    next = std::ranges::find(state_, State::Ready) - state_.begin();
  }
  turn_ = next;
  cv_.notify_all();
}

void Lockstep::idle(size_t i) {
  std::unique_lock lk(mu_);
  state_[i] = State::Idle;
  pass_turn(i);
  cv_.wait(lk, [&] { return turn_ == i; });
}

void Lockstep::run(const std::function<void(size_t)>& body) {
  std::ranges::fill(state_, State::Ready);
  turn_ = 0;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < state_.size(); ++i) {
    threads.emplace_back([this, i, &body] {
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return turn_ == i; });
      }
      body(i);
      std::lock_guard lk(mu_);
      state_[i] = State::Done;
      pass_turn(i);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace vgd
