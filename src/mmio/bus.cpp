#include "mmio/bus.h"

#include <algorithm>

namespace vgd {

const char* describe(AccessStatus s) {
  switch (s) {
    case AccessStatus::Ok: return "ok";
    case AccessStatus::BadSize: return "access size not 1, 2, 4 or 8 bytes";
    case AccessStatus::Misaligned: return "access not naturally aligned";
    case AccessStatus::OutOfRange: return "offset beyond BAR0";
    case AccessStatus::Unbacked: return "offset in an unbacked part of BAR0";
  }
  return "?";
}

bool MmioBus::add(MmioOffset base, uint64_t size, MmioDevice& dev) {
  const uint64_t b = base.value();
  if (size == 0 || b % 8 || size % 8 || b > bar_size_ || size > bar_size_ - b) return false;
  auto pos = std::lower_bound(slots_.begin(), slots_.end(), b,
                              [](const Slot& s, uint64_t v) { return s.base < v; });
  if (pos != slots_.end() && pos->base < b + size) return false;
  if (pos != slots_.begin() && std::prev(pos)->base + std::prev(pos)->size > b) return false;
  slots_.insert(pos, Slot{b, size, &dev});
  return true;
}

const MmioBus::Slot* MmioBus::find(uint64_t off) const {
  auto pos = std::upper_bound(slots_.begin(), slots_.end(), off,
                              [](uint64_t v, const Slot& s) { return v < s.base; });
  if (pos == slots_.begin()) return nullptr;
  --pos;
  return off - pos->base < pos->size ? &*pos : nullptr;
}

AccessStatus MmioBus::check(uint64_t off, unsigned size) {
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    log_attack(stats_.attacks, GuestAttack::MmioBadSize, id_, "{}-byte access at {:#x} refused", size, off);
    return AccessStatus::BadSize;
  }
  if (off % size) {
    log_attack(stats_.attacks, GuestAttack::MmioMisaligned, id_, "{}-byte access at {:#x} is not naturally aligned: refused", size, off);
    return AccessStatus::Misaligned;
  }
  if (off >= bar_size_ || size > bar_size_ - off) {
    log_attack(stats_.attacks, GuestAttack::MmioBeyondBar, id_, "access at {:#x} beyond BAR0 ({:#x} bytes): refused", off, bar_size_);
    return AccessStatus::OutOfRange;
  }
  return AccessStatus::Ok;
}

// Natural alignment plus 8-aligned slots means an access never straddles two targets.
AccessStatus MmioBus::read(MmioOffset offset, unsigned size, uint64_t& value) {
  const uint64_t off = offset.value();
  value = 0;
  if (auto s = check(off, size); s != AccessStatus::Ok) return s;
  if (const Slot* slot = find(off)) {
    value = slot->dev->read(off - slot->base, size);
  } else if (off < hw::kMmioRegsSize) {
    value = vregs_->read(off, size);
  } else {
    log_attack(stats_.attacks, GuestAttack::MmioUnbacked, id_, "access at {:#x} in the unbacked part of BAR0: refused", off);
    return AccessStatus::Unbacked;
  }
  ++stats_.reads[static_cast<size_t>(hw::classify(off))];
  return AccessStatus::Ok;
}

AccessStatus MmioBus::write(MmioOffset offset, unsigned size, uint64_t value) {
  const uint64_t off = offset.value();
  if (auto s = check(off, size); s != AccessStatus::Ok) return s;
  const hw::RegBlock block = hw::classify(off);
  const Slot* slot = find(off);
  if (slot && !muted_[static_cast<size_t>(block)]) {
    slot->dev->write(off - slot->base, size, value);
  } else if (slot) {
    ++stats_.muted_writes;
    slot->dev->write_muted(*vregs_, off, size, value);
  } else if (off < hw::kMmioRegsSize) {
    vregs_->write(off, size, value);
  } else {
    log_attack(stats_.attacks, GuestAttack::MmioUnbacked, id_, "access at {:#x} in the unbacked part of BAR0: refused", off);
    return AccessStatus::Unbacked;
  }
  ++stats_.writes[static_cast<size_t>(block)];
  return AccessStatus::Ok;
}

}  // namespace vgd
