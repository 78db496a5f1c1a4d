// The MMIO entry point (docs/hardware.md, BAR0): access checking, plain register storage,
// device routing with block-relative offsets, per-block accounting and muting.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mmio/bus.h"
#include "mmio/vreg_file.h"
#include "support.h"

namespace vgd::test {
namespace {

constexpr uint64_t kBar = 0x1000000;  // BAR0 of a 4 GiB GGTT: 8 MiB + 1 Mi entries × 8 bytes
constexpr uint64_t kPlain = 0x2000;   // an ordinary register
constexpr uint64_t kPattern = 0x1122334455667788u;

// Records what reaches it; reads answer a recognisable value.
class RecordingDevice final : public MmioDevice {
 public:
  struct Access {
    bool write;
    uint64_t rel;
    unsigned size;
    uint64_t value;
    friend bool operator==(const Access&, const Access&) = default;
  };
  uint64_t read(uint64_t rel, unsigned size) override {
    log.push_back({false, rel, size, 0});
    return 0xD0000000u + rel;
  }
  void write(uint64_t rel, unsigned size, uint64_t value) override { log.push_back({true, rel, size, value}); }
  std::vector<Access> log;
};

VregFile make_vregs() {
  auto r = VregFile::create();
  if (!r) throw std::runtime_error(r.error());
  return std::move(*r);
}

class BusTest : public ::testing::Test {
 protected:
  uint64_t read(uint64_t off, unsigned size) {
    uint64_t v = 0;
    EXPECT_EQ(bus.read(MmioOffset(off), size, v), AccessStatus::Ok) << "read at " << std::hex << off;
    return v;
  }
  void write(uint64_t off, unsigned size, uint64_t v) {
    EXPECT_EQ(bus.write(MmioOffset(off), size, v), AccessStatus::Ok) << "write at " << std::hex << off;
  }
  uint64_t block_accesses() const {
    uint64_t n = 0;
    for (size_t b = 0; b < hw::kRegBlockCount; ++b) n += bus.stats().reads[b] + bus.stats().writes[b];
    return n;
  }

  VregFile vregs = make_vregs();
  MmioBus bus{kBar, vregs};
  RecordingDevice dev;
};

// ---- Plain registers ------------------------------------------------------------------------------

struct SizeCase {
  unsigned size;
  uint64_t written;  // at the top `size` bytes of a qword holding kPattern
  uint64_t qword_after;
};

class BusSizeTest : public BusTest, public ::testing::WithParamInterface<SizeCase> {};

// A write touches exactly its bytes and reads back at the same size.
TEST_P(BusSizeTest, WriteAndReadBackOnPlainRegister) {
  const auto [size, written, qword_after] = GetParam();
  write(kPlain, 8, kPattern);
  write(kPlain + 8 - size, size, written);
  EXPECT_EQ(read(kPlain + 8 - size, size), written);
  EXPECT_EQ(read(kPlain, 8), qword_after);
}

INSTANTIATE_TEST_SUITE_P(Sizes, BusSizeTest,
                         ::testing::Values(SizeCase{1, 0xF8, 0xF822334455667788u},
                                           SizeCase{2, 0xF7F8, 0xF7F8334455667788u},
                                           SizeCase{4, 0xF5F6F7F8, 0xF5F6F7F855667788u},
                                           SizeCase{8, 0xF1F2F3F4F5F6F7F8u, 0xF1F2F3F4F5F6F7F8u}),
                         [](const auto& tp) { return "Size" + std::to_string(tp.param.size); });

TEST_F(BusTest, NarrowReadsSeeLittleEndianBytes) {
  write(kPlain, 8, kPattern);
  EXPECT_EQ(read(kPlain, 1), 0x88u);
  EXPECT_EQ(read(kPlain + 7, 1), 0x11u);
  EXPECT_EQ(read(kPlain + 2, 2), 0x5566u);
  EXPECT_EQ(read(kPlain + 4, 4), 0x11223344u);
  EXPECT_EQ(vregs.read(kPlain, 8), kPattern);
}

// ---- Refused accesses -------------------------------------------------------------------------------

struct BadAccess {
  const char* name;
  uint64_t off;
  unsigned size;
  AccessStatus status;
};

uint64_t counter(const MmioStats& s, AccessStatus st) {
  switch (st) {
    case AccessStatus::BadSize: return s.attacks[GuestAttack::MmioBadSize];
    case AccessStatus::Misaligned: return s.attacks[GuestAttack::MmioMisaligned];
    case AccessStatus::OutOfRange: return s.attacks[GuestAttack::MmioBeyondBar];
    case AccessStatus::Unbacked: return s.attacks[GuestAttack::MmioUnbacked];
    case AccessStatus::Ok: break;
  }
  return 0;
}

class BusRefuseTest : public BusTest, public ::testing::WithParamInterface<BadAccess> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(bus.add(MmioOffset(0x78000), 0x1000, dev));
    for (uint64_t off : {kPlain, uint64_t{0x78000}}) vregs.write(off, 8, kPattern);
  }
};

TEST_P(BusRefuseTest, IsCountedAndReachesNothing) {
  const BadAccess& p = GetParam();
  uint64_t value = 0xBAD;
  EXPECT_EQ(bus.read(MmioOffset(p.off), p.size, value), p.status);
  EXPECT_EQ(value, 0u) << "a refused read must not leak stale data";
  EXPECT_EQ(bus.write(MmioOffset(p.off), p.size, 0xFFFFFFFFFFFFFFFFu), p.status);
  EXPECT_EQ(counter(bus.stats(), p.status), 2u);
  EXPECT_EQ(bus.stats().refused(), 2u);
  EXPECT_EQ(block_accesses(), 0u);
  EXPECT_TRUE(dev.log.empty());
  EXPECT_EQ(vregs.read(kPlain, 8), kPattern);
  EXPECT_EQ(vregs.read(0x78000, 8), kPattern);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BusRefuseTest,
    ::testing::Values(BadAccess{"Size0", kPlain, 0, AccessStatus::BadSize},
                      BadAccess{"Size3", kPlain, 3, AccessStatus::BadSize},
                      BadAccess{"Size16", kPlain, 16, AccessStatus::BadSize},
                      BadAccess{"Size3OnDevice", 0x78000, 3, AccessStatus::BadSize},
                      BadAccess{"DwordAtPlus2", kPlain + 2, 4, AccessStatus::Misaligned},
                      BadAccess{"QwordAtPlus4", kPlain + 4, 8, AccessStatus::Misaligned},
                      BadAccess{"WordAtPlus1", kPlain + 1, 2, AccessStatus::Misaligned},
                      BadAccess{"DwordOnDeviceAtPlus2", 0x78002, 4, AccessStatus::Misaligned},
                      BadAccess{"AtBarEnd", kBar, 4, AccessStatus::OutOfRange},
                      BadAccess{"FarBeyond", 0xFFFFFFFFFFFFFFF8u, 8, AccessStatus::OutOfRange},
                      BadAccess{"HoleStart", 0x200000, 4, AccessStatus::Unbacked},
                      BadAccess{"HoleMiddle", 0x400000, 8, AccessStatus::Unbacked},
                      BadAccess{"HoleEnd", 0x7FFFFC, 4, AccessStatus::Unbacked}),
    [](const auto& tp) { return std::string(tp.param.name); });

// With natural alignment a qword can only straddle a BAR whose size is not a multiple of 8.
TEST(BusEdge, QwordStraddlingBarEndIsOutOfRange) {
  VregFile vregs = make_vregs();
  MmioBus bus(0x1004, vregs);
  uint64_t v = 0;
  EXPECT_EQ(bus.read(MmioOffset(0x1000), 4, v), AccessStatus::Ok);
  EXPECT_EQ(bus.read(MmioOffset(0x1000), 8, v), AccessStatus::OutOfRange);
  EXPECT_EQ(bus.write(MmioOffset(0x1000), 8, ~0ull), AccessStatus::OutOfRange);
  EXPECT_EQ(bus.stats().attacks[GuestAttack::MmioBeyondBar], 2u);
  EXPECT_EQ(vregs.read(0x1000, 8), 0u);
}

// ---- Device registration and routing ----------------------------------------------------------------

TEST_F(BusTest, AddRejectsBadRanges) {
  RecordingDevice other;
  EXPECT_FALSE(bus.add(MmioOffset(0x10000), 0, other)) << "empty";
  EXPECT_FALSE(bus.add(MmioOffset(0x10004), 8, other)) << "unaligned base";
  EXPECT_FALSE(bus.add(MmioOffset(0x10000), 12, other)) << "unaligned size";
  EXPECT_FALSE(bus.add(MmioOffset(kBar), 8, other)) << "starts at BAR end";
  EXPECT_FALSE(bus.add(MmioOffset(kBar - 8), 16, other)) << "runs past BAR end";
  EXPECT_FALSE(bus.add(MmioOffset(8), ~0ull - 7, other)) << "size wraps";

  ASSERT_TRUE(bus.add(MmioOffset(0x10000), 0x100, dev));
  EXPECT_FALSE(bus.add(MmioOffset(0x10000), 0x100, other)) << "same range";
  EXPECT_FALSE(bus.add(MmioOffset(0x10080), 0x100, other)) << "overlaps the end";
  EXPECT_FALSE(bus.add(MmioOffset(0xFF80), 0x100, other)) << "overlaps the start";
  EXPECT_FALSE(bus.add(MmioOffset(0x10040), 0x10, other)) << "inside";
  EXPECT_FALSE(bus.add(MmioOffset(0xFF00), 0x300, other)) << "around";

  // Rejected adds changed nothing: the first device still owns its range.
  write(0x10088, 4, 1);
  EXPECT_TRUE(other.log.empty());
  ASSERT_EQ(dev.log.size(), 1u);
}

TEST_F(BusTest, AddAcceptsAdjacentRangesAndLastQword) {
  RecordingDevice below, above, last;
  ASSERT_TRUE(bus.add(MmioOffset(0x10000), 0x100, dev));
  EXPECT_TRUE(bus.add(MmioOffset(0xFF00), 0x100, below));
  EXPECT_TRUE(bus.add(MmioOffset(0x10100), 0x100, above));
  EXPECT_TRUE(bus.add(MmioOffset(kBar - 8), 8, last));
  write(0xFFF8, 8, 1);
  write(0x10000, 8, 2);
  write(0x10100, 8, 3);
  write(kBar - 8, 8, 4);
  EXPECT_EQ(below.log, (std::vector<RecordingDevice::Access>{{true, 0xF8, 8, 1}}));
  EXPECT_EQ(dev.log, (std::vector<RecordingDevice::Access>{{true, 0, 8, 2}}));
  EXPECT_EQ(above.log, (std::vector<RecordingDevice::Access>{{true, 0, 8, 3}}));
  EXPECT_EQ(last.log, (std::vector<RecordingDevice::Access>{{true, 0, 8, 4}}));
}

TEST_F(BusTest, DevicesSeeBlockRelativeOffsetsAndOwnTheirRange) {
  RecordingDevice gtt;
  ASSERT_TRUE(bus.add(MmioOffset(0x78000), 0x1000, dev));
  ASSERT_TRUE(bus.add(MmioOffset(0x800000), kBar - 0x800000, gtt));
  write(0x78834, 4, 0x77);
  EXPECT_EQ(read(0x7800A, 2), 0xD000000Au);
  write(0x800010, 8, 0x5001);
  EXPECT_EQ(dev.log, (std::vector<RecordingDevice::Access>{{true, 0x834, 4, 0x77}, {false, 0xA, 2, 0}}));
  EXPECT_EQ(gtt.log, (std::vector<RecordingDevice::Access>{{true, 0x10, 8, 0x5001}}));
  EXPECT_EQ(vregs.read(0x78834, 4), 0u) << "a device write bypasses plain storage";
}

// ---- Muting --------------------------------------------------------------------------------------------

TEST_F(BusTest, MutedBlockWritesGoToStorageOnly) {
  RecordingDevice pvinfo;
  ASSERT_TRUE(bus.add(MmioOffset(0x70000), 0x100, dev));  // a display-block device
  ASSERT_TRUE(bus.add(MmioOffset(0x78000), 0x1000, pvinfo));
  bus.set_muted(hw::RegBlock::Display, true);

  write(0x70008, 4, 0xABCD);
  EXPECT_TRUE(dev.log.empty());
  EXPECT_EQ(vregs.read(0x70008, 4), 0xABCDu);
  EXPECT_EQ(bus.stats().muted_writes, 1u);
  EXPECT_EQ(bus.stats().writes[static_cast<size_t>(hw::RegBlock::Display)], 1u);

  // PVINFO lies inside the display window but is its own block: still live.
  write(0x78830, 4, 5);
  EXPECT_EQ(pvinfo.log.size(), 1u);

  bus.set_muted(hw::RegBlock::Display, false);
  write(0x70008, 4, 0x1);
  EXPECT_EQ(dev.log, (std::vector<RecordingDevice::Access>{{true, 8, 4, 0x1}}));
  EXPECT_EQ(bus.stats().muted_writes, 1u);
}

// ---- Through a vGPU --------------------------------------------------------------------------------

struct BlockCase {
  const char* name;
  uint64_t off;
  hw::RegBlock block;
};

class VgpuBlockTest : public GpuTest, public ::testing::WithParamInterface<BlockCase> {};

TEST_P(VgpuBlockTest, AccessesLandInTheirBlockCounter) {
  Vgpu& v = create();
  rd(v, GetParam().off);
  wr(v, GetParam().off, 0);
  const MmioStats& s = v.mmio_stats();
  for (size_t b = 0; b < hw::kRegBlockCount; ++b) {
    const uint64_t want = b == static_cast<size_t>(GetParam().block) ? 1 : 0;
    EXPECT_EQ(s.reads[b], want) << hw::kRegBlockNames[b];
    EXPECT_EQ(s.writes[b], want) << hw::kRegBlockNames[b];
  }
}

INSTANTIATE_TEST_SUITE_P(
    Blocks, VgpuBlockTest,
    ::testing::Values(BlockCase{"MasterIrq", 0x44200, hw::RegBlock::Interrupt},
                      BlockCase{"DePipeIsr", 0x44400, hw::RegBlock::Interrupt},
                      BlockCase{"PipeSrc", 0x6001C, hw::RegBlock::Display},
                      BlockCase{"PipeConfA", 0x70008, hw::RegBlock::Display},
                      BlockCase{"JustAfterPvinfo", 0x79000, hw::RegBlock::Display},
                      BlockCase{"PvinfoFirst", 0x78000, hw::RegBlock::Pvinfo},
                      BlockCase{"PvinfoLast", 0x78FFC, hw::RegBlock::Pvinfo},
                      BlockCase{"Fence0", 0x100000, hw::RegBlock::Fence},
                      BlockCase{"Fence31", 0x1000F8, hw::RegBlock::Fence},
                      BlockCase{"GttFirst", 0x800000, hw::RegBlock::Gtt},
                      BlockCase{"GttLast", kBar - 4, hw::RegBlock::Gtt},
                      BlockCase{"Plain", 0x2000, hw::RegBlock::Other}),
    [](const auto& tp) { return std::string(tp.param.name); });

TEST_F(GpuTest, VgpuBarRefusesBadAccesses) {
  Vgpu& v = create();
  uint64_t val = 0;
  EXPECT_EQ(v.read(MmioOffset(0x2000), 3, val), AccessStatus::BadSize);
  EXPECT_EQ(v.write(MmioOffset(0x2002), 4, 1), AccessStatus::Misaligned);
  EXPECT_EQ(v.read(MmioOffset(kBar), 4, val), AccessStatus::OutOfRange);
  EXPECT_NE(v.write(MmioOffset(kBar - 4), 8, 1), AccessStatus::Ok) << "straddles the BAR end";
  EXPECT_EQ(v.write(MmioOffset(0x300000), 4, 1), AccessStatus::Unbacked);
  EXPECT_EQ(v.mmio_stats().refused(), 5u);
}

// In failsafe the display block is muted: its registers still store and read back.
TEST_F(GpuTest, FailsafeVgpuStillStoresDisplayRegisters) {
  Vgpu& v = create();
  wr(v, 0x78808, 1);  // rsv5: guest reports insufficient resources
  ASSERT_TRUE(v.failsafe());
  wr(v, 0x70008, 0x80000000u);
  EXPECT_EQ(rd(v, 0x70008), 0x80000000u);
  wr(v, 0x78830, 16);
  EXPECT_EQ(rd(v, 0x78830), 16u);
}

}  // namespace
}  // namespace vgd::test
