#include "remote/pci_function.h"

#include <stdexcept>

namespace vgd::remote {

namespace {

template <class T>
void put(std::array<uint8_t, PciFunction::kSize>& a, uint32_t at, T v) {
  for (uint32_t i = 0; i < sizeof(T); ++i) a[at + i] = static_cast<uint8_t>(uint64_t{v} >> (8 * i));
}

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

PciFunction::PciFunction(PciIdentity id, uint64_t bar0_size) : bar0_size_(bar0_size) {
  if (!is_power_of_two(bar0_size) || bar0_size < kPageSize || bar0_size > (1ull << 30)) {
    throw std::invalid_argument("BAR0 size must be a power of two from 4 KiB to 1 GiB");
  }
  put(defaults_, cfg::kVendor, id.vendor);
  put(defaults_, cfg::kDevice, id.device);
  put(defaults_, cfg::kRevision, id.revision);
  put(defaults_, cfg::kClass, static_cast<uint8_t>(id.class_code));
  put(defaults_, cfg::kClass + 1, static_cast<uint16_t>(id.class_code >> 8));
  put(defaults_, cfg::kSubsystemVendor, id.subsystem_vendor);
  put(defaults_, cfg::kSubsystem, id.subsystem);
  put(defaults_, cfg::kInterruptPin, cfg::kPinIntA);
  // One capability, Advanced Features with FLR (and the transactions-pending bit, which Linux
  // requires beside it; nothing is ever pending): Linux then offers the function's reset in
  // sysfs and a driver's reset hooks run around it (docs/vm.md, Config space).
  put(defaults_, cfg::kStatus, cfg::kStatusCapList);
  put(defaults_, cfg::kCapPointer, static_cast<uint8_t>(cfg::kAfCap));
  put(defaults_, cfg::kAfCap, cfg::kCapIdAf);
  put(defaults_, cfg::kAfCap + 2, cfg::kAfLength);
  put(defaults_, cfg::kAfCap + 3, static_cast<uint8_t>(cfg::kAfCapTp | cfg::kAfCapFlr));
  // Everything else reads 0: header type 0 (one function), BARs 1-5, the CardBus pointer and
  // the ROM unimplemented, so sizing them reads back 0 (docs/vm.md).

  // No I/O BAR, so I/O decoding stays off; bus mastering and the error-reporting enables are
  // accepted (Linux sets them) and do nothing.
  put(writable_, cfg::kCommand,
      static_cast<uint16_t>(cfg::kCommandMemory | cfg::kCommandMaster | cfg::kCommandParity |
                            cfg::kCommandSerr | cfg::kCommandIntxDisable));
  put(writable_, cfg::kCacheLine, uint8_t{0xff});
  put(writable_, cfg::kInterruptLine, uint8_t{0xff});
  // BAR0: a 32-bit non-prefetchable memory BAR; only the address bits above its size are
  // writable, so writing all ones reads back the size mask (bits 3:0 stay 0: memory, 32-bit).
  put(writable_, cfg::kBar0, static_cast<uint32_t>(~(bar0_size - 1)));
  reset();
}

void PciFunction::reset() { bytes_ = defaults_; }

uint32_t PciFunction::read(uint32_t offset, uint32_t len) const {
  if (offset >= kSize || len > kSize - offset || len == 0 || len > 4) return UINT32_MAX;
  uint32_t v = 0;
  for (uint32_t i = 0; i < len; ++i) v |= uint32_t{bytes_[offset + i]} << (8 * i);
  return v;
}

PciFunction::WriteEffect PciFunction::write(uint32_t offset, uint32_t len, uint32_t value) {
  if (offset >= kSize || len > kSize - offset || len == 0 || len > 4) return WriteEffect::None;
  bool flr = false;
  for (uint32_t i = 0; i < len; ++i) {
    const auto b = static_cast<uint8_t>(value >> (8 * i));
    const uint8_t mask = writable_[offset + i];
    bytes_[offset + i] = static_cast<uint8_t>((bytes_[offset + i] & ~mask) | (b & mask));
    flr |= offset + i == cfg::kAfCtrl && (b & cfg::kAfCtrlFlr);  // the bit itself always reads 0
  }
  if (!flr) return WriteEffect::None;
  reset();
  return WriteEffect::FunctionReset;
}

void PciFunction::set_interrupt_status(bool pending) {
  uint8_t& s = bytes_[cfg::kStatus];
  s = static_cast<uint8_t>(pending ? s | cfg::kStatusInterrupt : s & ~cfg::kStatusInterrupt);
}

uint16_t PciFunction::command() const { return static_cast<uint16_t>(read(cfg::kCommand, 2)); }

std::optional<Gpa> PciFunction::bar0_base() const {
  const uint64_t base = read(cfg::kBar0, 4) & ~uint64_t{0xf};
  // As QEMU's own mapping decides: 0 (and the sizing pattern, which would end at 4 GiB) means
  // the BAR is not mapped.
  if (base == 0 || base + bar0_size_ - 1 >= UINT32_MAX) return std::nullopt;
  return Gpa(base);
}

std::optional<MmioOffset> PciFunction::decode(Gpa gpa, uint32_t size) const {
  if (!memory_enabled()) return std::nullopt;
  const auto base = bar0_base();
  if (!base || !GpaRange{*base, bar0_size_}.contains(gpa, size)) return std::nullopt;
  return MmioOffset(gpa - *base);
}

}  // namespace vgd::remote
