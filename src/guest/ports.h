// How the guest driver reaches its device and its memory. In-process these call the vGPU
// directly; in a micro-VM they are real loads and stores that trap. Nothing else is shared with
// the host: the guest core links only against hw/ and util/ headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "util/address.h"

namespace vgd::guest {

class MmioPort {
 public:
  virtual uint64_t read(MmioOffset off, unsigned size) = 0;
  virtual void write(MmioOffset off, unsigned size, uint64_t value) = 0;

  uint32_t read32(uint64_t off) { return static_cast<uint32_t>(read(MmioOffset(off), 4)); }
  void write32(uint64_t off, uint32_t v) { write(MmioOffset(off), 4, v); }

 protected:
  ~MmioPort() = default;
};

class RamPort {
 public:
  virtual uint64_t size() const = 0;
  // The guest's own bytes at [gpa, gpa + len), or nullptr if outside its RAM.
  virtual std::byte* at(Gpa gpa, uint64_t len) = 0;

 protected:
  ~RamPort() = default;
};

// How a guest waits for its device: "nothing to do until the next interrupt". In a VM this is a
// halt; in-process the runner lets (virtual) time pass.
class IdlePort {
 public:
  virtual void idle() = 0;

 protected:
  ~IdlePort() = default;
};

// What the guest learns before its driver runs: PCI BAR sizes (GGTT and aperture, as on real
// hardware) and where its free RAM starts and ends (firmware memory map).
struct Platform {
  uint64_t ggtt_size = 0;
  uint64_t aperture_size = 0;
  GpaRange free_ram{};
};

}  // namespace vgd::guest
