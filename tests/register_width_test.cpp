// Narrow (1, 2 byte) and wide (8 byte) guest writes to display and interrupt registers get the
// same semantics as 32-bit ones: W1C clears only what was written, status and host-owned bits
// never move, and the side effect (delivery, pipe enable, flip) runs. Offsets are the
// reference's literals (pipe A unless named).
#include <gtest/gtest.h>

#include "hw/display_regs.h"
#include "support.h"

namespace vgd {
namespace {

constexpr uint64_t kPipeConfA = 0x70008, kFrameCountA = 0x70040, kFlipCountA = 0x70044;
constexpr uint64_t kPlaneCtlA = 0x70180, kSurfA = 0x7019C, kSurfLiveA = 0x701AC;
constexpr uint64_t kCurCntrA = 0x70080, kCurSurfLiveA = 0x700AC;
constexpr uint64_t kSurfLiveB = 0x711AC, kSurfLiveC = 0x721AC;
constexpr uint64_t kMmioFlipPrimaryB = 0x50088;
constexpr uint64_t kIsrA = 0x44400, kImrA = 0x44404, kIirA = 0x44408, kIerA = 0x4440C, kMaster = 0x44200;
constexpr uint32_t kVblankBit = 1u << 0, kPrimaryDone = 1u << 3, kCursorDone = 1u << 6;
constexpr uint32_t kEnable = 1u << 31, kState = 1u << 30, kMasterPipeA = 1u << 16;

class RegisterWidthTest : public test::MsiCountingTest {
 protected:
  // Vblank and primary flip-done pending in IIR (unmasked, not yet enabled for delivery).
  void pend_vblank_and_flip() {
    wr(*v, kImrA, 0);
    wr(*v, kPlaneCtlA, 1u << 31);
    wr(*v, kPipeConfA, kEnable);
    wr(*v, kSurfA, 0x08000000);
    v->vblank();
    ASSERT_EQ(u32(kIirA), kVblankBit | kPrimaryDone);
  }
  uint32_t u32(uint64_t off) { return static_cast<uint32_t>(rd(*v, off)); }
};

// --- interrupt registers ------------------------------------------------------------------------

TEST_F(RegisterWidthTest, ByteWriteToIirClearsOnlyTheWrittenOnes) {
  pend_vblank_and_flip();
  wr(*v, kIirA + 1, 0xFF, 1);
  EXPECT_EQ(u32(kIirA), kVblankBit | kPrimaryDone) << "the other byte is neither stored nor cleared";
  wr(*v, kIirA, kVblankBit, 1);
  EXPECT_EQ(u32(kIirA), kPrimaryDone);
  wr(*v, kIirA, 0xFF, 1);
  EXPECT_EQ(u32(kIirA), 0u);
}

TEST_F(RegisterWidthTest, WordWriteToIerDeliversWhatIsPending) {
  pend_vblank_and_flip();
  wr(*v, kMaster, kEnable);
  ASSERT_EQ(msis, 0) << "IER still zero";
  wr(*v, kIerA, kVblankBit, 2);
  EXPECT_EQ(u32(kIerA), kVblankBit);
  EXPECT_EQ(u32(kMaster), kEnable | kMasterPipeA);
  EXPECT_EQ(msis, 1) << "a 2-byte IER write re-evaluates delivery like a 4-byte one";
}

// A VM's INTx line is a level: high exactly while the master is enabled and an enabled
// interrupt pends, low once the guest clears the last IIR bit or disables the master.
class LevelSink final : public display::InterruptSink {
 public:
  void raise() override {}
  void set_level(bool high) override { level = high; }
  bool level = false;
};

TEST_F(RegisterWidthTest, TheLineIsHighExactlyWhileAnEnabledInterruptPends) {
  LevelSink line;
  v->set_interrupt_sink(&line);
  pend_vblank_and_flip();
  wr(*v, kIerA, kVblankBit | kPrimaryDone);
  EXPECT_FALSE(line.level) << "master disabled";
  wr(*v, kMaster, kEnable);
  EXPECT_TRUE(line.level);
  wr(*v, kIirA, kVblankBit);
  EXPECT_TRUE(line.level) << "flip-done still pends";
  wr(*v, kIirA, kPrimaryDone);
  EXPECT_FALSE(line.level) << "the guest cleared the last bit";
  v->vblank();
  EXPECT_TRUE(line.level) << "the next vblank raises it again";
  wr(*v, kMaster, 0);
  EXPECT_FALSE(line.level) << "master disabled while the vblank pends";
  v->set_interrupt_sink(nullptr);
}

TEST_F(RegisterWidthTest, ByteWriteToTheMasterSetsOnlyItsEnableBit) {
  pend_vblank_and_flip();
  wr(*v, kIerA, kVblankBit);
  wr(*v, kMaster + 2, 0xFF, 1);
  EXPECT_EQ(u32(kMaster), kMasterPipeA) << "pending bits are the banks', not the guest's";
  EXPECT_EQ(msis, 0);
  wr(*v, kMaster + 3, 0xFF, 1);
  EXPECT_EQ(u32(kMaster), kEnable | kMasterPipeA);
  EXPECT_EQ(msis, 1);
}

TEST_F(RegisterWidthTest, NarrowWritesNeverSetStatusBits) {
  for (unsigned size : {1u, 2u}) {
    for (uint64_t at = 0; at < 4; at += size) wr(*v, kIsrA + at, 0xFFFF, size);
  }
  EXPECT_EQ(u32(kIsrA), 0u);
}

TEST_F(RegisterWidthTest, QwordWriteGivesEachRegisterItsOwnSemantics) {
  pend_vblank_and_flip();
  // ISR (read-only) + IMR (plain), then IIR (W1C) + IER (plain).
  wr(*v, kIsrA, uint64_t{0x0000FFFF} << 32 | 0xFFFFFFFF, 8);
  EXPECT_EQ(u32(kIsrA), kVblankBit | kPrimaryDone) << "status only the host sets";
  EXPECT_EQ(u32(kImrA), 0x0000FFFFu);
  wr(*v, kMaster, kEnable);
  wr(*v, kIirA, uint64_t{kPrimaryDone} << 32 | kVblankBit, 8);
  EXPECT_EQ(u32(kIirA), kPrimaryDone) << "only the written 1 cleared";
  EXPECT_EQ(u32(kIerA), kPrimaryDone);
  EXPECT_EQ(u32(kMaster), kEnable | kMasterPipeA);
  EXPECT_EQ(msis, 1);
}

// --- a register with a host-owned bit: PIPECONF ---------------------------------------------

TEST_F(RegisterWidthTest, ByteWriteOfTheEnableBitLightsThePipe) {
  wr(*v, kPipeConfA + 3, 0x40, 1);  // bit 30 only: the guest cannot claim the state
  EXPECT_EQ(u32(kPipeConfA), 0u);
  EXPECT_FALSE(v->display().active(hw::Pipe::A));
  wr(*v, kPipeConfA + 3, 0x80, 1);
  EXPECT_EQ(u32(kPipeConfA), kEnable | kState);
  v->vblank();
  EXPECT_EQ(u32(kFrameCountA), 1u);
  wr(*v, kPipeConfA + 2, 0x12, 1);  // another byte: the pipe stays on
  EXPECT_EQ(u32(kPipeConfA), kEnable | kState | 0x120000u);
  wr(*v, kPipeConfA + 2, 0x4000, 2);  // enable cleared, bit 30 written: off, and the state says so
  EXPECT_EQ(u32(kPipeConfA), 0u);
  EXPECT_FALSE(v->display().active(hw::Pipe::A));
}

TEST_F(RegisterWidthTest, QwordWriteAtPipeconfEnablesThePipe) {
  wr(*v, kPipeConfA, uint64_t{0xABCD} << 32 | kState, 8);
  EXPECT_EQ(u32(kPipeConfA), 0u);
  EXPECT_EQ(u32(kPipeConfA + 4), 0xABCDu) << "the neighbour takes its half";
  wr(*v, kPipeConfA, kEnable, 8);
  EXPECT_EQ(u32(kPipeConfA), kEnable | kState);
}

TEST_F(RegisterWidthTest, CountersAndSurfaceLiveIgnoreWritesOfEverySize) {
  wr(*v, kPipeConfA, kEnable);
  wr(*v, kPlaneCtlA, 1u << 31);
  wr(*v, kSurfA, 0x08040000);
  v->vblank();
  const uint32_t live = u32(kSurfLiveA), frames = u32(kFrameCountA), flips = u32(kFlipCountA);
  ASSERT_EQ(live, 0x08040000u);
  for (unsigned size : {1u, 2u}) {
    for (uint64_t at = 0; at < 4; at += size) {
      wr(*v, kSurfLiveA + at, 0xFFFF, size);
      wr(*v, kFrameCountA + at, 0xFFFF, size);
    }
  }
  wr(*v, kSurfLiveA - 4, ~uint64_t{0}, 8);  // the register below SURFLIVE, and SURFLIVE
  wr(*v, kFrameCountA, ~uint64_t{0}, 8);    // both counters
  EXPECT_EQ(u32(kSurfLiveA), live);
  EXPECT_EQ(u32(kFrameCountA), frames);
  EXPECT_EQ(u32(kFlipCountA), flips);
}

// A failsafe guest's writes are stored without side effects, through the same masks.
TEST_F(RegisterWidthTest, FailsafeNarrowWritesKeepTheHostBits) {
  wr(*v, kPipeConfA, kEnable);
  v->vblank();
  wr(*v, hw::kPvinfoOffset + 0x808, 1);  // rsv5: failsafe, every pipe stopped
  ASSERT_TRUE(v->failsafe());
  wr(*v, kPipeConfA + 3, 0xC0, 1);
  EXPECT_EQ(u32(kPipeConfA), kEnable) << "stored for the guest to read back; no state bit";
  wr(*v, kFrameCountA, 0, 2);
  wr(*v, kCurSurfLiveA - 4, ~uint64_t{0}, 8);
  EXPECT_EQ(u32(kFrameCountA), 1u);
  EXPECT_EQ(u32(kCurSurfLiveA), 0u);
}

// --- flips ------------------------------------------------------------------------------------

TEST_F(RegisterWidthTest, WordWritesToASurfaceRegisterFlip) {
  wr(*v, kSurfA + 2, 0x0806, 2);  // stopped pipe: the flip takes effect at once
  EXPECT_EQ(u32(kSurfLiveA), 0x08060000u);
  EXPECT_EQ(u32(kFlipCountA), 1u);
}

TEST_F(RegisterWidthTest, QwordCursorWriteFlipsWithTheControlItCarries) {
  wr(*v, kImrA, 0);
  wr(*v, kPipeConfA, kEnable);
  // CURCNTR (64x64 ARGB, async bit 9) in the low half, CURBASE in the high half.
  wr(*v, kCurCntrA, uint64_t{0x08100000} << 32 | (1u << 9 | 0x27), 8);
  EXPECT_EQ(u32(kCurSurfLiveA), 0x08100000u) << "async: latched without a vblank";
  EXPECT_EQ(u32(kIirA) & kCursorDone, kCursorDone);
}

TEST_F(RegisterWidthTest, QwordWriteToTwoFlipRegistersFlipsBothPipes) {
  wr(*v, kMmioFlipPrimaryB, uint64_t{0x08300000} << 32 | 0x08200000, 8);  // pipes B and C
  EXPECT_EQ(u32(kSurfLiveB), 0x08200000u);
  EXPECT_EQ(u32(kSurfLiveC), 0x08300000u);
}

// Every register the table declares with bits the guest may not set: writes of every size at
// every byte keep those bits clear (from reset, nothing else has run).
TEST_F(RegisterWidthTest, NoWriteSetsAProtectedBitOfAnyTableRegister) {
  for (hw::RegTable table : {hw::RegTable(hw::kDeInterruptRegs), hw::RegTable(hw::kDisplayRegs)}) {
    for (const hw::RegInfo& r : table) {
      const uint32_t fixed = r.ro | r.host | r.reserved;
      if (!fixed || r.offset == 0x70008) continue;  // PIPECONF: enabling lights bit 30 (tested above)
      for (uint32_t i = 0; i < r.count; ++i)
        for (unsigned size : {1u, 2u, 4u})
          for (uint64_t at = 0; at < 4; at += size) {
            wr(*v, r.at(i) + at, ~uint64_t{0}, size);
            EXPECT_EQ(u32(r.at(i)) & fixed, 0u) << r.name << " instance " << i << " size " << size << " +" << at;
          }
    }
  }
}

}  // namespace
}  // namespace vgd
