// vgpu-guest's host-testable half (docs/vm.md, Inside the VM): the reservation it reads from the
// kernel command line, its options, finding the vGPU in a sysfs tree by its IDs, and the platform
// facts it derives from the BAR sizes, and its idle that polls the frame counters.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "hw/display.h"
#include "vmguest/linux_ports.h"
#include "vmguest/options.h"
#include "vmguest/pci.h"
#include "vmguest/platform.h"

namespace {

using namespace vgd;
using namespace vgd::vmguest;

TEST(VmGuestOptions, SizesTakeTheKernelsSuffixesAndHex) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("0x10000000"), 0x10000000u);
  EXPECT_EQ(parse_size("64M"), 64u << 20);
  EXPECT_EQ(parse_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_size("16k"), 16u << 10);
  EXPECT_EQ(parse_size(""), std::nullopt);
  EXPECT_EQ(parse_size("M"), std::nullopt);
  EXPECT_EQ(parse_size("12x"), std::nullopt);
  EXPECT_EQ(parse_size("99999999999999999999G"), std::nullopt);
}

TEST(VmGuestOptions, TheReservationComesFromTheKernelCommandLine) {
  const auto r = reservation_in_cmdline("console=ttyS0 quiet memmap=64M$0x10000000 vgpu.frames=3\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->begin, Gpa(0x10000000));
  EXPECT_EQ(r->size, 64u << 20);
  // Usable-RAM (@) and unaligned reservations are not ranges the guest may take.
  EXPECT_EQ(reservation_in_cmdline("memmap=64M@0x10000000"), std::nullopt);
  EXPECT_EQ(reservation_in_cmdline("memmap=64M$0x10000800"), std::nullopt);
  EXPECT_EQ(reservation_in_cmdline("console=ttyS0"), std::nullopt);
  // The first well-formed one counts.
  EXPECT_EQ(reservation_in_cmdline("memmap=1x$0 memmap=4K$0x2000")->begin, Gpa(0x2000));
}

TEST(VmGuestOptions, ArgumentsSetTheWorkloadDeviceAndRam) {
  const char* argv[] = {"vgpu-guest", "--workload", "modeswitch", "--frames", "240", "--vendor", "0x8086",
                        "--device", "0x1912", "--ram", "32M$0x8000000", "--aperture-size", "256M"};
  Options o;
  std::string err;
  ASSERT_TRUE(parse_args(std::size(argv), argv, o, err)) << err;
  EXPECT_EQ(o.workload, Workload::ModeSwitch);
  EXPECT_EQ(o.frames, 240u);
  EXPECT_EQ(o.vendor, 0x8086);
  EXPECT_EQ(o.device, 0x1912);
  EXPECT_EQ(o.ram, (GpaRange{Gpa(0x8000000), 32u << 20}));
  EXPECT_EQ(o.aperture_size, 256u << 20);
}

TEST(VmGuestOptions, BadArgumentsAreRefusedWithTheReason) {
  auto refuse = [](std::vector<const char*> args) {
    args.insert(args.begin(), "vgpu-guest");
    Options o;
    std::string err;
    EXPECT_FALSE(parse_args(static_cast<int>(args.size()), args.data(), o, err));
    return err;
  };
  EXPECT_EQ(refuse({"--workload", "game"}), "bad value for --workload: game");
  EXPECT_EQ(refuse({"--vendor", "0x12345"}), "bad value for --vendor: 0x12345");
  EXPECT_EQ(refuse({"--frames"}), "missing value after --frames");
  EXPECT_EQ(refuse({"--ram", "64M"}), "bad value for --ram: 64M");
  EXPECT_EQ(refuse({"--colour", "red"}), "unknown option --colour");
}

class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void add(const std::string& bdf, const char* vendor, const char* device, const std::string& resource) {
    const std::string d = dir_ + "/" + bdf;
    std::filesystem::create_directories(d);
    std::ofstream(d + "/vendor") << vendor << "\n";
    std::ofstream(d + "/device") << device << "\n";
    std::ofstream(d + "/resource") << resource;
  }
  std::string dir_ = ::testing::TempDir() + "vmguest_sysfs_" + std::to_string(::getpid());
};

TEST_F(FakeSysfs, TheVgpuIsFoundByItsIdsWithItsBarSizes) {
  add("0000:00:01.0", "0x8086", "0x7000", "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
  add("0000:00:04.0", "0x1af4", "0x10f0",
      "0x00000000fd000000 0x00000000fdffffff 0x0000000000040200\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x00000000e0000000 0x00000000efffffff 0x0000000000040200\n");
  const auto dev = find_pci_device(dir_, 0x1af4, 0x10f0);
  ASSERT_TRUE(dev.has_value());
  EXPECT_EQ(dev->path, dir_ + "/0000:00:04.0");
  EXPECT_EQ(dev->bar_size[0], 16u << 20);
  EXPECT_EQ(dev->bar_size[1], 0u);
  EXPECT_EQ(dev->bar_size[2], 256u << 20);
  EXPECT_FALSE(find_pci_device(dir_, 0x1af4, 0x10f1).has_value());
  EXPECT_FALSE(find_pci_device(dir_ + "/absent", 0x1af4, 0x10f0).has_value());
}

TEST(VmGuestPlatform, GgttFromBar0ApertureFromBar2OrTheDefault) {
  PciDevice dev{"x", {16u << 20, 0, 0, 0, 0, 0}};
  const GpaRange ram{Gpa(0x10000000), 64u << 20};
  guest::Platform p = platform_for(dev, ram, 0, 0);
  EXPECT_EQ(p.ggtt_size, 4ull << 30);  // 8 MiB of 8-byte entries, one per 4 KiB
  EXPECT_EQ(p.aperture_size, kDefaultApertureSize);
  EXPECT_EQ(p.free_ram, ram);
  dev.bar_size[2] = 256u << 20;
  EXPECT_EQ(platform_for(dev, ram, 0, 0).aperture_size, 256u << 20);
  EXPECT_EQ(platform_for(dev, ram, 2ull << 30, 128u << 20).ggtt_size, 2ull << 30);  // overrides win
  EXPECT_EQ(ggtt_size_for_bar0(8u << 20), 0u);  // registers only: no GGTT
}

// A device whose pipe B frame counter moves after `reads_until_vblank` reads of it (never if 0).
class CountingMmio final : public guest::MmioPort {
 public:
  explicit CountingMmio(uint32_t reads_until_vblank) : left_(reads_until_vblank) {}
  uint64_t read(MmioOffset off, unsigned) override {
    if (off.value() != hw::pipe_reg(hw::Pipe::B, hw::pipe::kFrameCount)) return 0;
    if (left_ && --left_ == 0) ++frames_;
    return frames_;
  }
  void write(MmioOffset, unsigned, uint64_t) override {}

 private:
  uint32_t left_;
  uint32_t frames_ = 7;
};

TEST(VmGuestIdle, ReturnsOnceAnyPipesFrameCounterMoves) {
  CountingMmio dev(4);  // one read before idling, then three polls
  PollIdle idle(dev);
  idle.idle();
  EXPECT_EQ(idle.polls(), 3u);
}

TEST(VmGuestIdle, GivesUpWhenNoVblankComes) {
  CountingMmio dev(0);
  PollIdle idle(dev);
  const auto start = std::chrono::steady_clock::now();
  idle.idle();  // returns, so the display re-reads IIR and eventually times out
  EXPECT_EQ(idle.polls(), PollIdle::kMaxWaitMs * 1000 / PollIdle::kStepUs);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
