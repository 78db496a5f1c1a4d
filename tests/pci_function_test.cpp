// The vGPU's PCI configuration space (docs/vm.md, Config space): what a BIOS and Linux read
// while they enumerate it, BAR sizing and placement, and how a guest-physical address becomes
// a BAR0 offset only while the BAR is really mapped.
#include <gtest/gtest.h>

#include <vector>

#include "remote/pci_function.h"

namespace vgd::remote {
namespace {

TEST(PciFunction, IdentityAsEnumerationReadsIt) {
  const PciFunction f;
  EXPECT_EQ(f.read(cfg::kVendor, 2), 0x1af4u);
  EXPECT_EQ(f.read(cfg::kDevice, 2), 0x10f0u);
  EXPECT_EQ(f.read(0x0a, 2), 0x0380u);  // class 03 (display), subclass 80 (other)
  EXPECT_EQ(f.read(cfg::kClass, 1), 0u);  // programming interface
  EXPECT_EQ(f.read(cfg::kRevision, 1), 1u);
  EXPECT_EQ(f.read(cfg::kSubsystemVendor, 2), 0x1af4u);
  EXPECT_EQ(f.read(cfg::kSubsystem, 2), 0x10f0u);
  EXPECT_EQ(f.read(cfg::kHeaderType, 1), 0u);  // type 0, single function
  EXPECT_EQ(f.read(cfg::kInterruptPin, 1), 1u);  // INTA
  EXPECT_EQ(f.read(cfg::kStatus, 2), cfg::kStatusCapList);
  EXPECT_EQ(f.read(0, 4), 0x10f01af4u);
}

TEST(PciFunction, BarProbeAsQemuRealizeDoesIt) {
  PciFunction f;
  // For 0x10..0x28: read, write all ones, read the size mask, restore.
  for (uint32_t off = 0x10; off <= 0x28; off += 4) {
    const uint32_t orig = f.read(off, 4);
    f.write(off, 4, 0xffffffff);
    EXPECT_EQ(f.read(off, 4), off == cfg::kBar0 ? 0xff000000u : 0u) << std::hex << off;
    f.write(off, 4, orig);
    EXPECT_EQ(f.read(off, 4), orig);
  }
  f.write(cfg::kRom, 4, 0xffffffff);
  EXPECT_EQ(f.read(cfg::kRom, 4), 0u);  // no expansion ROM
  EXPECT_FALSE(f.bar0_base());  // restored to 0: unassigned
}

TEST(PciFunction, BarSizeFollowsTheConfiguredSize) {
  PciFunction f({}, 1u << 20);
  f.write(cfg::kBar0, 4, 0xffffffff);
  EXPECT_EQ(f.read(cfg::kBar0, 4), 0xfff00000u);
  EXPECT_THROW(PciFunction({}, 3u << 20), std::invalid_argument);
  EXPECT_THROW(PciFunction({}, 2ull << 30), std::invalid_argument);
}

TEST(PciFunction, ReadOnlyAndReservedBytesKeepTheirValues) {
  PciFunction f;
  for (uint32_t off = 0; off < PciFunction::kSize; off += 4) {
    const uint32_t before = f.read(off, 4);
    if (off == cfg::kAfCtrl) continue;  // bit 0 resets the function: its own test
    f.write(off, 4, 0xa5a5a5a5);
    const uint32_t after = f.read(off, 4);
    switch (off) {
      case cfg::kCommand:
        EXPECT_EQ(after, (0xa5a5a5a5u & 0x0546u) | uint32_t{cfg::kStatusCapList} << 16) << "command: only its enables";
        break;
      case 0x0c: EXPECT_EQ(after, 0xa5u) << "cache line size"; break;
      case cfg::kBar0: EXPECT_EQ(after, 0xa5000000u); break;
      case 0x3c: EXPECT_EQ(after, before | 0xa5u) << "interrupt line"; break;
      default: EXPECT_EQ(after, before) << std::hex << "offset " << off;
    }
  }
}

TEST(PciFunction, NarrowAndUnalignedAccesses) {
  PciFunction f;
  EXPECT_EQ(f.read(1, 4), 0x0010f01au);
  EXPECT_EQ(f.read(3, 1), 0x10u);
  EXPECT_EQ(f.read(0x0b, 1), 0x03u);
  f.write(0x13, 1, 0xfd);  // the top byte of BAR0 alone
  EXPECT_EQ(f.read(cfg::kBar0, 4), 0xfd000000u);
  f.write(0x12, 2, 0xffff);  // half in the size, half in the address
  EXPECT_EQ(f.read(cfg::kBar0, 4), 0xff000000u);
  EXPECT_EQ(f.read(255, 1), 0u);
  EXPECT_EQ(f.read(255, 2), UINT32_MAX);  // beyond the space: nothing there
  f.write(255, 2, 0xffff);
  EXPECT_EQ(f.read(254, 2), 0u);
}

TEST(PciFunction, DecodesOnlyWhileMappedAndEnabled) {
  PciFunction f;
  f.write(cfg::kCommand, 2, cfg::kCommandMemory);
  EXPECT_FALSE(f.decode(Gpa(0), 4)) << "BAR0 at 0 is unassigned";
  f.write(cfg::kBar0, 4, 0xfd000000);
  f.write(cfg::kCommand, 2, 0);
  EXPECT_FALSE(f.decode(Gpa(0xfd078000), 4)) << "memory decoding off";
  f.write(cfg::kCommand, 2, cfg::kCommandMemory);
  EXPECT_EQ(f.bar0_base(), Gpa(0xfd000000));
  EXPECT_EQ(f.decode(Gpa(0xfd078000), 4), MmioOffset(0x78000));
  EXPECT_EQ(f.decode(Gpa(0xfdfffff8), 8), MmioOffset(0xfffff8));
  EXPECT_FALSE(f.decode(Gpa(0xfdfffffc), 8)) << "straddles the end";
  EXPECT_FALSE(f.decode(Gpa(0xfe000000), 1));
  EXPECT_FALSE(f.decode(Gpa(0xfcfffffc), 4));
  // While the BIOS sizes the BAR its value is the size mask: not a place the BAR lives.
  f.write(cfg::kBar0, 4, 0xffffffff);
  EXPECT_FALSE(f.bar0_base());
  EXPECT_FALSE(f.decode(Gpa(0xff000000), 4));
}

TEST(PciFunction, ResetRestoresDefaults) {
  PciFunction f;
  const uint32_t line = f.read(cfg::kInterruptLine, 1);
  f.write(cfg::kBar0, 4, 0xfd000000);
  f.write(cfg::kCommand, 2, cfg::kCommandMemory | cfg::kCommandIntxDisable);
  f.write(cfg::kInterruptLine, 1, 11);
  f.set_interrupt_status(true);
  EXPECT_TRUE(f.intx_disabled());
  EXPECT_EQ(f.read(cfg::kStatus, 2), cfg::kStatusInterrupt | cfg::kStatusCapList);
  f.reset();
  EXPECT_EQ(f.read(cfg::kBar0, 4), 0u);
  EXPECT_EQ(f.read(cfg::kCommand, 2), 0u);
  EXPECT_EQ(f.read(cfg::kInterruptLine, 1), line);
  EXPECT_EQ(f.read(cfg::kStatus, 2), cfg::kStatusCapList);
  EXPECT_FALSE(f.memory_enabled());
  EXPECT_EQ(f.read(cfg::kVendor, 2), 0x1af4u);
}

// Linux's pci_af_flr: walks the capability list to ID 0x13 and needs both TP and FLR in AF_CAP
// before it offers the function's reset.
TEST(PciFunction, TheCapabilityListOffersAnAdvancedFeaturesFlr) {
  const PciFunction f;
  ASSERT_TRUE(f.read(cfg::kStatus, 2) & cfg::kStatusCapList);
  std::vector<uint32_t> ids;
  for (uint32_t at = f.read(cfg::kCapPointer, 1) & ~3u, hops = 0; at != 0 && hops < 48; ++hops) {
    ASSERT_GE(at, 0x40u) << "a capability inside the header";
    ids.push_back(f.read(at, 1));
    if (ids.back() == cfg::kCapIdAf) {
      EXPECT_EQ(f.read(at + 2, 1), 6u) << "AF length";
      EXPECT_EQ(f.read(at + 3, 1), 0x03u) << "AF_CAP: TP and FLR";
      EXPECT_EQ(f.read(at + 4, 2), 0u) << "AF_CTRL reads 0, nothing pending in AF_STATUS";
    }
    at = f.read(at + 1, 1) & ~3u;
  }
  EXPECT_EQ(ids, std::vector<uint32_t>{cfg::kCapIdAf});
}

TEST(PciFunction, AfFlrResetsTheRegistersAndSaysSo) {
  PciFunction f;
  f.write(cfg::kBar0, 4, 0xfd000000);
  f.write(cfg::kCommand, 2, cfg::kCommandMemory | cfg::kCommandMaster);
  // Writing AF_CTRL without the FLR bit, or other capability bytes, changes nothing.
  EXPECT_EQ(f.write(cfg::kAfCtrl, 1, 0xfe), PciFunction::WriteEffect::None);
  EXPECT_EQ(f.write(cfg::kAfCap, 4, 0xffffffff), PciFunction::WriteEffect::None);
  EXPECT_EQ(f.bar0_base(), Gpa(0xfd000000));
  EXPECT_EQ(f.read(cfg::kAfCap + 3, 1), 0x03u);
  // As Linux does it (a byte), and as part of a wider write.
  EXPECT_EQ(f.write(cfg::kAfCtrl, 1, cfg::kAfCtrlFlr), PciFunction::WriteEffect::FunctionReset);
  EXPECT_FALSE(f.bar0_base());
  EXPECT_FALSE(f.memory_enabled());
  EXPECT_EQ(f.read(cfg::kAfCtrl, 1), 0u);
  f.write(cfg::kCommand, 2, cfg::kCommandMemory);
  EXPECT_EQ(f.write(cfg::kAfCap, 4, 0), PciFunction::WriteEffect::None);
  EXPECT_EQ(f.write(cfg::kAfCap + 2, 4, 0x10000), PciFunction::WriteEffect::FunctionReset);
  EXPECT_FALSE(f.memory_enabled());
}

}  // namespace
}  // namespace vgd::remote
