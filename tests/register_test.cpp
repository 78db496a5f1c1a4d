// The one register write path (hw/register.h, mmio/register_device.h), table-driven: a guest
// write of 1, 2, 4 or 8 bytes is merged into the 32-bit registers it covers, then each row's
// read-only, write-1-to-clear, host-owned and reserved masks apply.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "hw/display_regs.h"
#include "hw/register.h"
#include "mmio/register_device.h"

namespace vgd {
namespace {

// Two adjacent registers with one kind of bit per byte: byte 0 plain, byte 1 reserved, byte 2
// write-1-to-clear, byte 3 read-only (A) or host-owned (B, one instance per 0x10).
constexpr uint64_t kA = 0x1000, kB = 0x1004;
constexpr std::array kTable = {
    hw::RegInfo{.name = "A", .offset = kA, .reset = 0x00AA0011, .ro = 0xFF000000, .w1c = 0x00FF0000,
                .reserved = 0x0000FF00},
    hw::RegInfo{.name = "B", .offset = kB, .reset = 0x00AA0011, .w1c = 0x00FF0000, .host = 0xFF000000,
                .reserved = 0x0000FF00, .count = 2, .stride = 0x10},
};
static_assert(hw::well_formed(kTable, kA, kB + 0x14));

VregFile make_vregs() {
  auto r = VregFile::create();
  if (!r) throw std::runtime_error(r.error());
  return std::move(*r);
}

struct WriteCase {
  const char* name;
  uint64_t off;
  unsigned size;
  uint64_t value;
  uint32_t a, b;  // expected A and B, both starting at 0x5A5A5A5A
};

class RegisterWrite : public ::testing::TestWithParam<WriteCase> {};

TEST_P(RegisterWrite, MergesThenAppliesEachRegistersMasks) {
  const WriteCase& c = GetParam();
  VregFile regs = make_vregs();
  regs.write32(kA, 0x5A5A5A5A);
  regs.write32(kB, 0x5A5A5A5A);
  for (const hw::RegAccess& a : hw::split_access(c.off, c.size, c.value)) store_register(regs, kTable, a);
  EXPECT_EQ(regs.read32(kA), c.a) << std::hex << regs.read32(kA);
  EXPECT_EQ(regs.read32(kB), c.b) << std::hex << regs.read32(kB);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, RegisterWrite,
    ::testing::Values(
        // A 32-bit write of all ones: plain bits set, W1C bits clear, RO/host bits and reserved
        // bits (zero) as the masks say.
        WriteCase{"dword_all_ones", kA, 4, 0xFFFFFFFF, 0x5A0000FF, 0x5A5A5A5A},
        WriteCase{"dword_zero", kA, 4, 0, 0x5A5A0000, 0x5A5A5A5A},
        // A byte write touches only its byte: W1C bits elsewhere are not "written with 1".
        WriteCase{"byte0", kA, 1, 0xC3, 0x5A5A00C3, 0x5A5A5A5A},
        WriteCase{"byte2_w1c", kA + 2, 1, 0x0F, 0x5A50005A, 0x5A5A5A5A},
        WriteCase{"byte3_read_only", kA + 3, 1, 0xFF, 0x5A5A005A, 0x5A5A5A5A},
        WriteCase{"byte3_host_owned", kB + 3, 1, 0xFF, 0x5A5A5A5A, 0x5A5A005A},
        WriteCase{"word_high_w1c_and_ro", kA + 2, 2, 0xFFFF, 0x5A00005A, 0x5A5A5A5A},
        WriteCase{"word_low", kB, 2, 0xFFFF, 0x5A5A5A5A, 0x5A5A00FF},
        // A qword is two registers, each with its own row.
        WriteCase{"qword_both", kA, 8, 0xFFFFFFFF'FFFFFFFF, 0x5A0000FF, 0x5A0000FF},
        WriteCase{"qword_w1c_high_only", kA, 8, 0x00FF0000'00000000, 0x5A5A0000, 0x5A000000}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(RegisterTable, PerPipeRowsFindTheirInstanceAndNothingBetween) {
  EXPECT_EQ(hw::find(kTable, kB + 0x10).row, &kTable[1]);
  EXPECT_EQ(hw::find(kTable, kB + 0x10).instance, 1u);
  EXPECT_EQ(hw::find(kTable, kB + 0x08).row, nullptr);
  EXPECT_EQ(hw::find(kTable, kB + 0x20).row, nullptr) << "beyond the last instance";
  const hw::RegMatch pipe_c_conf = hw::find(hw::kDisplayRegs, 0x72008);
  ASSERT_NE(pipe_c_conf.row, nullptr);
  EXPECT_EQ(pipe_c_conf.row->name, "PIPECONF");
  EXPECT_EQ(pipe_c_conf.instance, 2u);
  const hw::RegMatch iir_b = hw::find(hw::kDeInterruptRegs, 0x44418);
  ASSERT_NE(iir_b.row, nullptr);
  EXPECT_EQ(iir_b.row->name, "DE_PIPE_IIR");
  EXPECT_EQ(iir_b.instance, 1u);
}

TEST(RegisterTable, ARegisterOutsideTheTableIsStoredAsWritten) {
  VregFile regs = make_vregs();
  regs.write32(kA - 4, 0x11223344);
  for (const hw::RegAccess& a : hw::split_access(kA - 3, 1, 0xEE))
    EXPECT_FALSE(store_register(regs, kTable, a).has_value()) << "no row, so no side effect";
  EXPECT_EQ(regs.read32(kA - 4), 0x1122EE44u);
}

TEST(RegisterTable, AChangeReportsRowInstanceAndBothValues) {
  VregFile regs = make_vregs();
  regs.write32(kB + 0x10, 0x00FF0000);
  const auto w = store_register(regs, kTable, hw::split_access(kB + 0x12, 1, 0x01).items[0]);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->row, &kTable[1]);
  EXPECT_EQ(w->instance, 1u);
  EXPECT_EQ(w->reg, kB + 0x10);
  EXPECT_EQ(w->old, 0x00FF0000u);
  EXPECT_EQ(w->value, 0x00FE0000u);
}

TEST(RegisterTable, ResetPutsEveryInstanceAtItsResetValue) {
  VregFile regs = make_vregs();
  regs.write32(kB + 0x10, 0xFFFFFFFF);
  reset_registers(regs, kTable);
  EXPECT_EQ(regs.read32(kA), 0x00AA0011u);
  EXPECT_EQ(regs.read32(kB), 0x00AA0011u);
  EXPECT_EQ(regs.read32(kB + 0x10), 0x00AA0011u);
}

TEST(RegisterTable, MalformedTablesAreRejected) {
  const auto bad = [](hw::RegInfo r) { return !hw::well_formed(std::array{r}, 0, 0x100); };
  EXPECT_TRUE(bad({.name = "w1c_and_ro", .offset = 0, .ro = 1, .w1c = 1}));
  EXPECT_TRUE(bad({.name = "reset_reserved", .offset = 0, .reset = 1, .reserved = 1}));
  EXPECT_TRUE(bad({.name = "outside", .offset = 0xFC, .count = 2, .stride = 4}));
  EXPECT_TRUE(bad({.name = "unaligned", .offset = 2}));
  EXPECT_FALSE(bad({.name = "fine", .offset = 0xF8, .count = 2, .stride = 4}));
  const std::array twice = {hw::RegInfo{.name = "X", .offset = 0x10, .count = 3, .stride = 0x10},
                            hw::RegInfo{.name = "Y", .offset = 0x30}};
  EXPECT_FALSE(hw::well_formed(twice, 0, 0x100)) << "0x30 is X's third instance";
}

}  // namespace
}  // namespace vgd
