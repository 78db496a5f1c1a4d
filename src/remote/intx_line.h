// A level-triggered INTx line delivered through an irqfd/resamplefd pair (docs/vm.md, INTx).
// The device sets the level; the transport connects the eventfds the VMM gave it. Raising the
// line signals the irqfd; the interrupt controller lowers its side when the guest acknowledges
// it and signals the resamplefd, and if the device still holds the line high it is signalled
// again. Thread-safe: the device drives it from its own threads.
#pragma once

#include <cstdint>

#include "util/thread_annotations.h"
#include "util/unique_fd.h"

namespace vgd::remote {

class IntxLine {
 public:
  struct Counters {
    uint64_t signals = 0;     // irqfd writes
    uint64_t resamples = 0;   // resamplefd events handled
    uint64_t rising = 0;      // low → high transitions requested by the device
  };

  // Device side.
  void set_level(bool high);
  bool level() const;

  // Transport side. connect() replaces any earlier pair and signals at once if the line is
  // already high.
  void connect(UniqueFd irqfd, UniqueFd resamplefd);
  void disconnect();
  // The command register's INTx disable bit: while set the line is never signalled.
  void set_enabled(bool enabled);
  // For the transport's poll loop: -1 when not connected. Only the transport's thread calls
  // connect/disconnect, so the descriptor stays valid while it polls it.
  int resample_fd() const;
  // The resamplefd became readable: consume it and re-signal while the level is high.
  void on_resample();

  Counters counters() const;

 private:
  void signal_locked() REQUIRES(mu_);

  mutable Mutex mu_;
  bool level_ GUARDED_BY(mu_) = false;
  bool enabled_ GUARDED_BY(mu_) = true;
  UniqueFd irqfd_ GUARDED_BY(mu_);
  UniqueFd resamplefd_ GUARDED_BY(mu_);
  Counters counters_ GUARDED_BY(mu_);
};

}  // namespace vgd::remote
