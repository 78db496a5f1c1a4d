// A hostile or broken QEMU: the fuzzer's bytes are one x-pci-proxy-dev message and the number
// of descriptors that came with it (the first byte). Parsing must never read out of bounds, a
// message it accepts must encode back to the same message, and the config space it drives must
// keep its identity and decode BAR accesses only inside BAR0 (docs/vm.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <variant>

#include "fuzz_check.h"
#include "remote/mpqemu_wire.h"
#include "remote/pci_function.h"

using namespace vgd;
using namespace vgd::remote;

namespace {

void drive(PciFunction& f, const mpqemu::Message& m) {
  if (const auto* c = std::get_if<mpqemu::ConfigAccess>(&m)) {
    if (c->write) {
      f.write(c->offset, c->len, c->value);
    } else {
      (void)f.read(c->offset, c->len);
    }
  } else if (const auto* b = std::get_if<mpqemu::BarAccess>(&m)) {
    if (const auto off = f.decode(b->addr, b->size)) {
      CHECK(f.memory_enabled());
      CHECK(f.bar0_base() && b->addr - *f.bar0_base() == off->value());
      CHECK(off->value() + b->size <= f.bar0_size());
    }
  } else if (std::holds_alternative<mpqemu::DeviceReset>(m)) {
    f.reset();
  }
  CHECK(f.read(cfg::kVendor, 4) == 0x10f01af4u);
  CHECK(f.read(cfg::kRevision, 4) == 0x03800001u);
  CHECK(f.read(cfg::kInterruptPin, 1) == cfg::kPinIntA);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t fds = data[0] % 11;
  // The input may hold several messages back to back, as a stream does.
  auto rest = std::as_bytes(std::span(data + 1, size - 1));
  PciFunction function;
  while (!rest.empty()) {
    const auto m = mpqemu::parse(rest, fds);
    if (!m) return 0;
    const auto again = mpqemu::parse(mpqemu::encode(*m), fds);
    CHECK(again && *again == *m);
    drive(function, *m);
    const auto h = mpqemu::parse_header(rest);
    rest = rest.subspan(mpqemu::kHeaderSize + h->payload_size);
  }
  return 0;
}
