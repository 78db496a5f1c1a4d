#include "vmguest/linux_ports.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "hw/display.h"

namespace vgd::vmguest {

FileMapping::FileMapping(const std::string& path, uint64_t offset, uint64_t len) {
  // No O_SYNC: RAM stays write-back (the host reads the same pages through the VM's memfd, and
  // x86 caches are coherent), which drawing needs to be fast; resource0 maps uncached anyway.
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    error_ = path + ": " + std::strerror(errno);
    return;
  }
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  const int err = errno;
  ::close(fd);  // the mapping keeps what it needs
  if (p == MAP_FAILED) {
    error_ = "mmap of " + path + ": " + std::strerror(err);
    return;
  }
  base_ = static_cast<std::byte*>(p);
  len_ = len;
}

FileMapping::~FileMapping() {
  if (base_) ::munmap(base_, len_);
}

bool BarMmio::fits(MmioOffset off, unsigned size) const {
  const bool width = size == 1 || size == 2 || size == 4 || size == 8;
  return width && off.value() % size == 0 && off.value() < bar_->size() && size <= bar_->size() - off.value();
}

// One access of exactly the requested width: volatile, so the compiler neither splits, merges
// nor drops it, and the device sees what the driver asked for.
uint64_t BarMmio::read(MmioOffset off, unsigned size) {
  if (!fits(off, size)) return 0;
  std::byte* p = bar_->data() + off.value();
  switch (size) {
    case 1: return *reinterpret_cast<volatile uint8_t*>(p);
    case 2: return *reinterpret_cast<volatile uint16_t*>(p);
    case 4: return *reinterpret_cast<volatile uint32_t*>(p);
    default: return *reinterpret_cast<volatile uint64_t*>(p);
  }
}

void BarMmio::write(MmioOffset off, unsigned size, uint64_t value) {
  if (!fits(off, size)) return;
  std::byte* p = bar_->data() + off.value();
  switch (size) {
    case 1: *reinterpret_cast<volatile uint8_t*>(p) = static_cast<uint8_t>(value); break;
    case 2: *reinterpret_cast<volatile uint16_t*>(p) = static_cast<uint16_t>(value); break;
    case 4: *reinterpret_cast<volatile uint32_t*>(p) = static_cast<uint32_t>(value); break;
    default: *reinterpret_cast<volatile uint64_t*>(p) = value; break;
  }
}

uint64_t PollIdle::frame_counters() {
  uint64_t sum = 0;  // any pipe's vblank changes the sum: each counter only grows (mod 2^32)
  for (hw::Pipe p : {hw::Pipe::A, hw::Pipe::B, hw::Pipe::C})
    sum += mmio_->read32(hw::pipe_reg(p, hw::pipe::kFrameCount));
  return sum;
}

void PollIdle::idle() {
  const uint64_t before = frame_counters();
  const timespec step{0, static_cast<long>(kStepUs) * 1000};
  for (uint32_t waited_us = 0; waited_us < kMaxWaitMs * 1000; waited_us += kStepUs) {
    ::nanosleep(&step, nullptr);
    ++polls_;
    if (frame_counters() != before) return;
  }
}

}  // namespace vgd::vmguest
