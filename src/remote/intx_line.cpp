#include "remote/intx_line.h"

#include <fcntl.h>
#include <unistd.h>

namespace vgd::remote {

void IntxLine::set_level(bool high) {
  Locked l(mu_);
  if (high == level_) return;
  level_ = high;
  if (!high) return;  // the controller lowers its side itself, at the guest's EOI
  ++counters_.rising;
  signal_locked();
}

bool IntxLine::level() const {
  Locked l(mu_);
  return level_;
}

void IntxLine::connect(UniqueFd irqfd, UniqueFd resamplefd) {
  // Reading must never block the transport's loop (QEMU makes its eventfds non-blocking too;
  // the flag is shared with it through the open file).
  if (resamplefd) ::fcntl(resamplefd.get(), F_SETFL, ::fcntl(resamplefd.get(), F_GETFL) | O_NONBLOCK);
  Locked l(mu_);
  irqfd_ = std::move(irqfd);
  resamplefd_ = std::move(resamplefd);
  if (level_) signal_locked();
}

void IntxLine::disconnect() {
  Locked l(mu_);
  irqfd_.reset();
  resamplefd_.reset();
}

void IntxLine::set_enabled(bool enabled) {
  Locked l(mu_);
  if (enabled == enabled_) return;
  enabled_ = enabled;
  if (enabled && level_) signal_locked();  // a line held high while masked shows on unmask
}

int IntxLine::resample_fd() const {
  Locked l(mu_);
  return resamplefd_.get();
}

void IntxLine::on_resample() {
  Locked l(mu_);
  if (!resamplefd_) return;
  uint64_t n = 0;
  // An eventfd read resets its counter; a spurious wakeup (nothing to read) changes nothing.
  if (::read(resamplefd_.get(), &n, sizeof n) != sizeof n) return;
  ++counters_.resamples;
  if (level_) signal_locked();
}

IntxLine::Counters IntxLine::counters() const {
  Locked l(mu_);
  return counters_;
}

void IntxLine::signal_locked() {
  if (!irqfd_ || !enabled_) return;
  const uint64_t one = 1;
  // Only fails if the counter would overflow, i.e. the interrupt is already pending.
  if (::write(irqfd_.get(), &one, sizeof one) == sizeof one) ++counters_.signals;
}

}  // namespace vgd::remote
