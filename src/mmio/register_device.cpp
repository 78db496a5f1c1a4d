#include "mmio/register_device.h"

namespace vgd {

std::optional<RegWrite> store_register(VregFile& regs, hw::RegTable table, const hw::RegAccess& a) {
  const uint32_t old = regs.read32(a.reg);
  const hw::RegMatch m = hw::find(table, a.reg);
  if (!m.row) {
    regs.write32(a.reg, (old & ~a.written) | (a.value & a.written));
    return std::nullopt;
  }
  const uint32_t value = hw::guest_write(*m.row, old, a.value, a.written);
  regs.write32(a.reg, value);
  return RegWrite{m.row, m.instance, a.reg, old, value, a.value, a.written};
}

void reset_registers(VregFile& regs, hw::RegTable table) {
  for (const hw::RegInfo& r : table)
    for (uint32_t i = 0; i < r.count; ++i) regs.write32(r.at(i), r.reset);
}

void RegisterDevice::write(uint64_t rel, unsigned size, uint64_t value) {
  for (const hw::RegAccess& a : hw::split_access(block_.base + rel, size, value))
    if (auto w = store_register(*regs_, table_, a)) on_write(*w);
}

void RegisterDevice::write_muted(VregFile& regs, uint64_t abs, unsigned size, uint64_t value) {
  for (const hw::RegAccess& a : hw::split_access(abs, size, value)) store_register(regs, table_, a);
}

}  // namespace vgd
