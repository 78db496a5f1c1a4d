// The one write path for table-declared registers (hw/register.h): a guest write of any size is
// split into the 32-bit registers it covers; each is merged with what is stored, masked by its
// table row, stored, and then handed to the device's side-effect hook. A muted (failsafe) write
// takes the same path without the hook, so host-owned bits stay the host's there too.
#pragma once

#include <cstdint>
#include <optional>

#include "hw/blocks.h"
#include "hw/register.h"
#include "mmio/bus.h"
#include "mmio/vreg_file.h"

namespace vgd {

// One register a guest write changed, after its masks applied.
struct RegWrite {
  const hw::RegInfo* row;  // its table row
  uint32_t instance;       // which of the row's instances (the pipe, for per-pipe registers)
  uint64_t reg;            // its BAR0 offset
  uint32_t old;            // before the write
  uint32_t value;          // stored now
  uint32_t asked;          // what the guest wrote, in the bytes it wrote
  uint32_t written;        // those bytes, as a mask
  // Bits of `mask` the guest tried to set although they were clear (and are refused).
  uint32_t tried_to_set(uint32_t mask) const { return asked & written & mask & ~old; }
};

// Stores one register's part of a guest write (registers outside the table: as written).
// Returns the change when the register has a row.
std::optional<RegWrite> store_register(VregFile& regs, hw::RegTable table, const hw::RegAccess& a);

// Sets every register the table declares to its reset value.
void reset_registers(VregFile& regs, hw::RegTable table);

// A device whose block is plain storage except the registers of its table.
class RegisterDevice : public MmioDevice {
 public:
  uint64_t read(uint64_t rel, unsigned size) final { return regs_->read(block_.base + rel, size); }
  void write(uint64_t rel, unsigned size, uint64_t value) final;
  void write_muted(VregFile& regs, uint64_t abs, unsigned size, uint64_t value) final;

 protected:
  // Puts the table's registers at their reset values.
  RegisterDevice(VregFile& regs, hw::BlockRange block, hw::RegTable table)
      : regs_(&regs), block_(block), table_(table) {
    reset_registers(regs, table);
  }
  ~RegisterDevice() = default;

  // The side effect of a guest write to a table register, after the new value is stored. An
  // 8-byte write runs it for the low register before storing the high one.
  virtual void on_write(const RegWrite& w) = 0;

  VregFile* regs_;

 private:
  hw::BlockRange block_;
  hw::RegTable table_;
};

}  // namespace vgd
