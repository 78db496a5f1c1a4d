// A register's guest-visible write semantics as data (cf. QEMU's RegisterAccessInfo): one table
// row per emulated register, and pure functions that turn any 1/2/4/8-byte guest write into
// new 32-bit register values. Devices add only side effects (docs/design.md, "A trapped access").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace vgd::hw {

struct RegInfo {
  std::string_view name;
  uint64_t offset = 0;    // BAR0 offset of the first instance (pipe A's)
  uint32_t reset = 0;     // value after a device reset
  uint32_t ro = 0;        // read-only status: a guest write leaves these bits
  uint32_t w1c = 0;       // write 1 to clear, 0 to leave
  uint32_t host = 0;      // vGPU state only the host sets (state bits, counters, SURFLIVE)
  uint32_t reserved = 0;  // not modelled: read as zero, writes dropped
  uint32_t count = 1;     // instances, e.g. one per pipe
  uint64_t stride = 0;    // bytes between instances

  // Bits a guest write stores as written.
  constexpr uint32_t writable() const { return ~(ro | w1c | host | reserved); }
  constexpr uint64_t at(uint32_t instance) const { return offset + stride * instance; }
  // The instance whose register is at `reg`, if any.
  constexpr std::optional<uint32_t> instance(uint64_t reg) const {
    if (reg < offset) return std::nullopt;
    const uint64_t d = reg - offset;
    if (d == 0) return 0;
    if (stride == 0 || d % stride || d / stride >= count) return std::nullopt;
    return static_cast<uint32_t>(d / stride);
  }
};

using RegTable = std::span<const RegInfo>;

// What a guest access does to one 32-bit register: the bits it writes (`written`, a mask of
// whole bytes) and their values.
struct RegAccess {
  uint64_t reg;  // 4-aligned BAR0 offset
  uint32_t value;
  uint32_t written;
};

// A naturally aligned access of 1, 2, 4 or 8 bytes as the one or two registers it covers.
struct RegAccesses {
  std::array<RegAccess, 2> items{};
  unsigned count = 0;
  constexpr const RegAccess* begin() const { return items.data(); }
  constexpr const RegAccess* end() const { return items.data() + count; }
};

constexpr RegAccesses split_access(uint64_t off, unsigned size, uint64_t value) {
  RegAccesses out;
  if (size == 8) {
    out.items[0] = {off, static_cast<uint32_t>(value), 0xFFFFFFFFu};
    out.items[1] = {off + 4, static_cast<uint32_t>(value >> 32), 0xFFFFFFFFu};
    out.count = 2;
    return out;
  }
  const uint64_t reg = off & ~uint64_t{3};
  const auto shift = static_cast<unsigned>(off - reg) * 8;
  const uint32_t bytes = size >= 4 ? 0xFFFFFFFFu : ((1u << (size * 8)) - 1) << shift;
  out.items[0] = {reg, static_cast<uint32_t>(value << shift) & bytes, bytes};
  out.count = 1;
  return out;
}

// The register's value after a guest write: writable bits take the written value, written
// W1C ones clear, read-only and host bits stay, reserved bits read as zero.
constexpr uint32_t guest_write(const RegInfo& r, uint32_t old, uint32_t value, uint32_t written) {
  const uint32_t stored = written & r.writable();
  uint32_t v = (old & ~stored) | (value & stored);
  v &= ~(value & written & r.w1c);
  return v & ~r.reserved;
}

// The row declaring the register at `reg` and which instance it is; nullptr: not in the table.
struct RegMatch {
  const RegInfo* row = nullptr;
  uint32_t instance = 0;
};
constexpr RegMatch find(RegTable table, uint64_t reg) {
  for (const RegInfo& r : table)
    if (auto i = r.instance(reg)) return {&r, *i};
  return {};
}

// Compile-time checks of a table: masks that do not contradict each other, a reset value with
// no reserved bit set, every instance inside the block [begin, end), no register declared twice.
constexpr bool well_formed(RegTable table, uint64_t begin, uint64_t end) {
  for (const RegInfo& r : table) {
    if (r.count == 0 || (r.count > 1 && r.stride < 4) || r.offset % 4 || r.stride % 4) return false;
    if (r.w1c & (r.ro | r.host | r.reserved) || r.reset & r.reserved) return false;
    if (r.offset < begin || r.at(r.count - 1) + 4 > end) return false;
    for (uint32_t i = 0; i < r.count; ++i)
      if (find(table, r.at(i)).row != &r) return false;  // an earlier row claims it too
  }
  return true;
}

}  // namespace vgd::hw
