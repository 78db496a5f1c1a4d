// The guest driver's ports on Linux inside a VM (docs/vm.md, Inside the VM): MMIO as real loads
// and stores on an mmap of the vGPU's BAR0 (each one traps to the device model), RAM as an mmap
// of /dev/mem over a physically contiguous range the kernel left alone (memmap=), and idling as
// polling the pipes' frame counters, because under TCG no interrupt ever arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "guest/ports.h"
#include "util/address.h"

namespace vgd::vmguest {

// A shared mapping of [offset, offset + len) of a file, unmapped once. Empty on failure, with
// the reason in error().
class FileMapping {
 public:
  FileMapping(const std::string& path, uint64_t offset, uint64_t len);
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  ~FileMapping();

  explicit operator bool() const { return base_ != nullptr; }
  std::byte* data() const { return base_; }
  uint64_t size() const { return len_; }
  const std::string& error() const { return error_; }

 private:
  std::byte* base_ = nullptr;
  uint64_t len_ = 0;
  std::string error_;
};

// BAR0 through sysfs resource0. An access outside the BAR or of another width than 1, 2, 4 or 8
// bytes reads 0 and writes nothing, like a refused access of the device.
class BarMmio final : public guest::MmioPort {
 public:
  explicit BarMmio(const FileMapping& bar) : bar_(&bar) {}
  uint64_t read(MmioOffset off, unsigned size) override;
  void write(MmioOffset off, unsigned size, uint64_t value) override;

 private:
  bool fits(MmioOffset off, unsigned size) const;
  const FileMapping* bar_;
};

// The guest-physical range `range` through a mapping of it.
class PhysRam final : public guest::RamPort {
 public:
  PhysRam(const FileMapping& map, GpaRange range) : map_(&map), range_(range) {}
  uint64_t size() const override { return range_.end().value(); }  // the highest address it reaches, + 1
  std::byte* at(Gpa gpa, uint64_t len) override {
    return range_.contains(gpa, len) ? map_->data() + (gpa - range_.begin) : nullptr;
  }

 private:
  const FileMapping* map_;
  GpaRange range_;
};

// "Until the next interrupt" without interrupts: sleeps in short steps until any pipe's
// PIPE_FRMCOUNT moves (the host's vblank, which also latches flips and sets IIR bits), or
// kMaxWaitMs pass (the display then checks IIR again and gives up after Display::kMaxIdle).
class PollIdle final : public guest::IdlePort {
 public:
  static constexpr uint32_t kStepUs = 1000;
  static constexpr uint32_t kMaxWaitMs = 100;

  explicit PollIdle(guest::MmioPort& mmio) : mmio_(&mmio) {}
  void idle() override;
  uint64_t polls() const { return polls_; }

 private:
  uint64_t frame_counters();
  guest::MmioPort* mmio_;
  uint64_t polls_ = 0;
};

}  // namespace vgd::vmguest
