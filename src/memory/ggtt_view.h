// One vGPU's part of the global GTT: the entries of its aperture and hidden slices, in two
// views. The guest view holds what the guest wrote (reads return it). The host view holds what
// the entry really points at: a page of this VM's RAM, or the scratch page when the guest wrote
// a frame outside its RAM, a not-present entry, or only half of a 64-bit entry so far.
// Entries outside the slices are not stored at all: writes to them are dropped by the caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "memory/guest_ram.h"
#include "util/address.h"
#include "util/expected.h"
#include "util/mapping.h"

namespace vgd {

// Where a GM page really lands.
struct HostPage {
  bool scratch = true;
  MemfdOffset offset{};  // into the VM's RAM file, when !scratch
  friend bool operator==(const HostPage&, const HostPage&) = default;
};

enum class PteWrite : uint8_t {
  Mapped,        // entry points at a page of guest RAM
  NotPresent,    // present bit clear: scratch
  BadFrame,      // frame outside the VM's RAM: scratch
  HalfPending,   // one 32-bit half written, waiting for the other: scratch meanwhile
  Foreign,       // index outside this vGPU's slices: dropped
};

class GgttView {
 public:
  static Expected<GgttView, std::string> create(GmRange aperture, GmRange hidden);

  GmRange aperture() const { return aperture_.range; }
  GmRange hidden() const { return hidden_.range; }
  bool owns(Gma a) const { return aperture_.range.contains(a) || hidden_.range.contains(a); }
  // Whole [a, a + len) inside one slice (never spanning the foreign GM between them).
  bool owns_range(Gma a, uint64_t len) const {
    return aperture_.range.contains(a, len) || hidden_.range.contains(a, len);
  }

  // Guest write of `size` bytes (4 or 8) at byte `byte_in_entry` (0 or 4) of entry `index`.
  PteWrite write(uint64_t index, unsigned byte_in_entry, unsigned size, uint64_t value, const GuestRam& ram);
  // Guest view of the entry; 0 for entries this vGPU does not own.
  uint64_t guest_pte(uint64_t index) const;

  // Host view of the page holding a; nothing for foreign addresses.
  std::optional<HostPage> translate(Gma a) const;
  // Guest-physical address the guest mapped at a, if the entry is present and inside RAM.
  std::optional<Gpa> guest_gpa(Gma a) const;

  // The VM's RAM changed layout: every complete, present entry is translated again through
  // `ram` (frames now outside it map to scratch). Answers how many present entries that are.
  uint64_t rebind(const GuestRam& ram);

  // Device reset: every entry back to zero / scratch.
  void clear();

  // Changes with every write to an owned entry, every rebind() and clear(): a decode made at one
  // generation is still true at the same generation (the plane cache relies on it).
  uint64_t generation() const { return generation_; }

 private:
  struct Entry {
    uint64_t guest;
    uint64_t host;  // encoded, see ggtt_view.cpp
  };
  struct Slice {
    GmRange range{};
    Mapping storage;  // Entry per page, zero = empty guest entry + scratch host entry
    Entry* entries() const { return reinterpret_cast<Entry*>(storage.data()); }
  };
  Entry* find(uint64_t index) const;

  Slice aperture_, hidden_;
  uint64_t generation_ = 0;
};

}  // namespace vgd
