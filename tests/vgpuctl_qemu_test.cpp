// `vgpuctl qemu`: the command line that gives a QEMU VM its vGPU (docs/vm.md).
#include <gtest/gtest.h>

#include <algorithm>

#include "qemu_command.h"

namespace vgd::ctl {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(QemuCommand, AddsTheDeviceAndAMemfdBackendOfTheVmsSize) {
  auto c = qemu_command({"qemu-system-x86_64", "-m", "512M", "-kernel", "vmlinuz"}, 7, 2);
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ((*c)[0], "qemu-system-x86_64");
  EXPECT_TRUE(has(*c, "x-pci-proxy-dev,id=vgpu2,fd=7"));
  EXPECT_TRUE(has(*c, "memory-backend-memfd,id=vgpu-ram,size=536870912,share=on"));
  EXPECT_TRUE(has(*c, "memory-backend=vgpu-ram"));
}

TEST(QemuCommand, KeepsTheUsersOwnMemoryBackend) {
  auto c = qemu_command({"qemu-system-x86_64", "-object", "memory-backend-memfd,id=m,size=1G,share=on", "-machine",
                         "pc,memory-backend=m"},
                        4, 1);
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_FALSE(has(*c, "memory-backend=vgpu-ram"));
  EXPECT_EQ(c->back(), "x-pci-proxy-dev,id=vgpu1,fd=4");
}

TEST(QemuCommand, WithoutMinusMTheVmHasQemusDefault128MiB) {
  auto c = qemu_command({"qemu-system-x86_64"}, 3, 1);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(has(*c, "memory-backend-memfd,id=vgpu-ram,size=134217728,share=on"));
}

TEST(QemuCommand, RefusesWhatItCannotRead) {
  EXPECT_FALSE(qemu_command({}, 3, 1).has_value());
  EXPECT_FALSE(qemu_command({"qemu-system-x86_64", "-m", "lots"}, 3, 1).has_value());
}

TEST(QemuCommand, ReadsMemorySizesAsQemuDoes) {
  EXPECT_EQ(parse_qemu_memory("512"), 512ull << 20);
  EXPECT_EQ(parse_qemu_memory("2G"), 2ull << 30);
  EXPECT_EQ(parse_qemu_memory("256m"), 256ull << 20);
  EXPECT_EQ(parse_qemu_memory("size=1G,slots=2,maxmem=4G"), 1ull << 30);
  EXPECT_FALSE(parse_qemu_memory("0").has_value());
  EXPECT_FALSE(parse_qemu_memory("12X").has_value());
  EXPECT_FALSE(parse_qemu_memory("99999999999999999999G").has_value());
}

}  // namespace
}  // namespace vgd::ctl
