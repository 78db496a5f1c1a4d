#include "memory/ggtt_view.h"

#include "hw/bar.h"

namespace vgd {
namespace {

// Host entry encoding: bit 0 = maps guest RAM (else scratch); bits 1/2 = low/high 32-bit half
// written since the last complete entry; bits 63:12 = memfd offset. Zero = scratch, nothing
// pending, so a fresh anonymous mapping is a valid all-scratch table.
constexpr uint64_t kMapped = 1u << 0;
constexpr uint64_t kLowPending = 1u << 1;
constexpr uint64_t kHighPending = 1u << 2;
constexpr uint64_t kOffsetMask = ~(kPageSize - 1);

// Host entry of a present guest entry: where its frame is in RAM, or 0 (scratch) outside RAM.
uint64_t resolve(uint64_t guest, const GuestRam& ram) {
  const auto off = ram.offset_of(Gpa::from_page(hw::pte::kFrame.get(guest)), kPageSize);
  return off ? off->value() | kMapped : 0;
}

}  // namespace

Expected<GgttView, std::string> GgttView::create(GmRange aperture, GmRange hidden) {
  GgttView v;
  for (auto [slice, range] : {std::pair{&v.aperture_, aperture}, std::pair{&v.hidden_, hidden}}) {
    slice->range = range;
    if (range.size == 0) continue;
    auto m = Mapping::anonymous(range.size / kPageSize * sizeof(Entry));
    if (!m) return Unexpected(m.error());
    slice->storage = std::move(*m);
  }
  return v;
}

GgttView::Entry* GgttView::find(uint64_t index) const {
  const Gma a = Gma::from_page(index);
  for (const Slice* s : {&aperture_, &hidden_})
    if (s->range.contains(a)) return s->entries() + (a - s->range.begin) / kPageSize;
  return nullptr;
}

PteWrite GgttView::write(uint64_t index, unsigned byte_in_entry, unsigned size, uint64_t value,
                         const GuestRam& ram) {
  Entry* e = find(index);
  if (!e) return PteWrite::Foreign;
  ++generation_;
  if (size == 8) {
    e->guest = value;
    e->host &= ~(kLowPending | kHighPending);
  } else {
    const unsigned shift = byte_in_entry * 8;
    const uint64_t mask = 0xFFFFFFFFull << shift;
    e->guest = (e->guest & ~mask) | ((value << shift) & mask);
    e->host |= byte_in_entry ? kHighPending : kLowPending;
    if ((e->host & (kLowPending | kHighPending)) != (kLowPending | kHighPending)) {
      // Half an entry is not an address: never let it point anywhere but scratch.
      e->host = (e->host & (kLowPending | kHighPending));
      return PteWrite::HalfPending;
    }
    e->host &= ~(kLowPending | kHighPending);
  }
  if (!hw::pte::kPresent.get(e->guest)) {
    e->host = 0;
    return PteWrite::NotPresent;
  }
  e->host = resolve(e->guest, ram);
  return e->host ? PteWrite::Mapped : PteWrite::BadFrame;
}

uint64_t GgttView::rebind(const GuestRam& ram) {
  ++generation_;
  uint64_t bad = 0;
  for (const Slice* s : {&aperture_, &hidden_}) {
    Entry* entries = s->entries();
    for (uint64_t i = 0; i < s->range.size / kPageSize; ++i) {
      Entry& e = entries[i];
      // Half-written entries stay scratch until their other half comes; empty ones stay empty
      // (and their untouched pages unallocated: only changed entries are written).
      if ((e.host & (kLowPending | kHighPending)) || !hw::pte::kPresent.get(e.guest)) continue;
      const uint64_t host = resolve(e.guest, ram);
      bad += host ? 0 : 1;
      if (host != e.host) e.host = host;
    }
  }
  return bad;
}

uint64_t GgttView::guest_pte(uint64_t index) const {
  const Entry* e = find(index);
  return e ? e->guest : 0;
}

std::optional<HostPage> GgttView::translate(Gma a) const {
  const Entry* e = find(a.page());
  if (!e) return std::nullopt;
  if (!(e->host & kMapped)) return HostPage{};
  return HostPage{false, MemfdOffset(e->host & kOffsetMask)};
}

std::optional<Gpa> GgttView::guest_gpa(Gma a) const {
  const Entry* e = find(a.page());
  if (!e || !(e->host & kMapped)) return std::nullopt;
  return Gpa::from_page(hw::pte::kFrame.get(e->guest));
}

void GgttView::clear() {
  ++generation_;
  for (Slice* s : {&aperture_, &hidden_}) s->storage.discard();
}

}  // namespace vgd
