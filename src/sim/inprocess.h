// Ports that connect a guest driver running in this process to its vGPU and its RAM: the same
// trap entry point a KVM exit would use, called directly.
#pragma once

#include <cstdint>

#include "display/vblank_clock.h"
#include "guest/display.h"
#include "guest/driver.h"
#include "guest/ports.h"
#include "memory/guest_ram.h"
#include "memory/partition.h"
#include "util/work_lock.h"
#include "vgpu/vgpu.h"

namespace vgd {

// With a lock (the vGPU's own), each access holds it, the way a vCPU thread emulates a trapped
// access: serialised with the vGPU's vblanks and consumer requests, never with other vGPUs.
class InProcessMmio final : public guest::MmioPort {
 public:
  explicit InProcessMmio(Vgpu& v, WorkLock* lock = nullptr) : vgpu_(&v), lock_(lock) {}
  uint64_t read(MmioOffset off, unsigned size) override NO_THREAD_SAFETY_ANALYSIS {
    uint64_t v = 0;
    if (lock_) lock_->lock();
    (void)vgpu_->read(off, size, v);  // refused accesses read as 0 and are counted by the bus
    if (lock_) lock_->unlock();
    return v;
  }
  void write(MmioOffset off, unsigned size, uint64_t value) override NO_THREAD_SAFETY_ANALYSIS {
    if (lock_) lock_->lock();
    (void)vgpu_->write(off, size, value);
    if (lock_) lock_->unlock();
  }

 private:
  Vgpu* vgpu_;
  WorkLock* lock_;
};

class InProcessRam final : public guest::RamPort {
 public:
  explicit InProcessRam(const GuestRam& ram) : ram_(&ram) {}
  uint64_t size() const override { return ram_->size(); }
  std::byte* at(Gpa gpa, uint64_t len) override {
    auto off = ram_->offset_of(gpa, len);
    return off ? ram_->host_bytes(*off, len).data() : nullptr;
  }

 private:
  const GuestRam* ram_;
};

// The platform facts firmware would hand a guest of this vGPU; the first MiB of RAM is the
// guest's own (code, stack), as in the micro-VM.
inline guest::Platform platform_for(const Vgpu& v, uint64_t ggtt_size, uint64_t aperture_size) {
  constexpr uint64_t kGuestReserved = 1ull << 20;
  return guest::Platform{ggtt_size, aperture_size, GpaRange{Gpa(kGuestReserved), v.ram().size() - kGuestReserved}};
}

// Idles an in-process guest by letting virtual time run to the next vblank of any vGPU: the
// deterministic stand-in for a halted vCPU waiting for its interrupt.
class VirtualIdle final : public guest::IdlePort {
 public:
  explicit VirtualIdle(display::VirtualClock& clock) : clock_(&clock) {}
  void idle() override { clock_->advance_to_next(); }

 private:
  display::VirtualClock* clock_;
};

// Waiting is impossible: for guests that never wait on the display.
class NoIdle final : public guest::IdlePort {
 public:
  void idle() override {}
};

// A guest driver running in this process on one vGPU, wired to it through the ports above, with
// its display driver. Not movable: the drivers point at the ports.
class InProcessGuest {
 public:
  InProcessGuest(Vgpu& v, const GpuGeometry& g, guest::IdlePort* idle = nullptr, WorkLock* lock = nullptr)
      : vgpu_(&v),
        mmio_(v, lock),
        ram_(v.ram()),
        driver_(mmio_, ram_, platform_for(v, g.ggtt_size, g.aperture_size)),
        display_(driver_, idle ? *idle : no_idle_) {}
  InProcessGuest(const InProcessGuest&) = delete;
  InProcessGuest& operator=(const InProcessGuest&) = delete;

  Vgpu& vgpu() const { return *vgpu_; }
  guest::Driver& driver() { return driver_; }
  guest::Display& display() { return display_; }
  guest::MmioPort& mmio() { return mmio_; }  // what the guest's loads and stores reach

 private:
  Vgpu* vgpu_;
  InProcessMmio mmio_;
  InProcessRam ram_;
  NoIdle no_idle_;
  guest::Driver driver_;
  guest::Display display_;
};

}  // namespace vgd
