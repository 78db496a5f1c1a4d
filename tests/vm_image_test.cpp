// The guest image in a real QEMU VM (docs/vm.md, The guest image): it boots Debian's kernel, /init
// hands vgpu-guest the options from the kernel command line, vgpu-guest says clearly that the VM
// has no vGPU, and the VM powers off by itself.
#include <chrono>

#include "vm_support.h"

namespace {

using namespace std::chrono_literals;
using vgd::test::Vm;

TEST(VmImage, WithoutAVgpuTheGuestSaysSoAndTheVmPowersOff) {
  const auto tools = vgd::test::find_vm_tools();
  VGD_REQUIRE_VM(tools);
  const auto start = std::chrono::steady_clock::now();
  vgd::test::VmOptions opt;
  opt.append = "vgpu.workload=video vgpu.frames=30";
  Vm vm(tools, opt, "novgpu");

  // TCG boots to /init in 5-15 s on an idle machine; a loaded one gets far more.
  ASSERT_TRUE(vm.wait_for("vgpu-init: vgpu-guest exited", 240s)) << vm.logs();
  const auto booted = std::chrono::steady_clock::now() - start;
  const std::string out = vm.serial();
  EXPECT_NE(out.find("running vgpu-guest --workload video --frames 30"), std::string::npos) << out;
  EXPECT_NE(out.find("vgpu-guest: no vGPU device: no PCI device 1af4:10f0"), std::string::npos) << out;
  EXPECT_NE(out.find("exited with status 3"), std::string::npos) << out;
  EXPECT_EQ(vm.wait_exit(60s), 0) << "the guest powers off and QEMU (-no-reboot) exits\n" << vm.logs();
  std::printf("boot to vgpu-guest's verdict: %.1f s\n", std::chrono::duration<double>(booted).count());
}

}  // namespace
