// The virtual register file: plain storage for the 2 MiB register part of BAR0. Registers
// without special behaviour just live here; devices keep their state here too.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "hw/bar.h"
#include "util/expected.h"
#include "util/mapping.h"

namespace vgd {

class VregFile {
 public:
  static Expected<VregFile, std::string> create() {
    auto m = Mapping::anonymous(hw::kMmioRegsSize);
    if (!m) return Unexpected(m.error());
    return VregFile(std::move(*m));
  }

  // off + size must lie within the register part (the bus checks).
  uint64_t read(uint64_t off, unsigned size) const {
    uint64_t v = 0;
    std::memcpy(&v, map_.data() + off, size);  // little-endian host, like the device
    return v;
  }
  void write(uint64_t off, unsigned size, uint64_t v) { std::memcpy(map_.data() + off, &v, size); }
  uint32_t read32(uint64_t off) const { return static_cast<uint32_t>(read(off, 4)); }
  void write32(uint64_t off, uint32_t v) { write(off, 4, v); }
  std::byte* raw(uint64_t off) const { return map_.data() + off; }

  void clear() { map_.discard(); }

 private:
  explicit VregFile(Mapping m) : map_(std::move(m)) {}
  Mapping map_;
};

}  // namespace vgd
