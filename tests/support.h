// Shared test fixtures: a GPU with vGPUs, guest RAM, and terse MMIO helpers.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "display/interrupts.h"
#include "hw/bar.h"
#include "hw/display.h"
#include "hw/pvinfo.h"
#include "memory/guest_ram.h"
#include "vgpu/gpu.h"

namespace vgd::test {

inline std::unique_ptr<Gpu> make_gpu(GpuConfig cfg = {}) {
  auto g = Gpu::create(std::move(cfg));
  if (!g) ADD_FAILURE() << g.error();
  return g ? std::move(*g) : nullptr;
}

inline std::shared_ptr<GuestRam> make_ram(uint64_t size = 64ull << 20) {
  auto r = GuestRam::create(size, "test-ram");
  if (!r) ADD_FAILURE() << r.error();
  return r ? *r : nullptr;
}

// Programs pipe p's mode as a guest's modeset does (reference §5.1), leaving PIPECONF alone:
// width × height active in a 2000 × 1250 total, DPLL 1 at 270,000 kHz for port D and link
// M / N = 25·hz / 2700, so the pixel clock is hz × 2.5 MHz and the mode refreshes at exactly hz.
inline void program_mode(Vgpu& v, hw::Pipe p, uint32_t width, uint32_t height, uint32_t hz) {
  using namespace hw;
  const auto wr = [&v](uint64_t off, uint32_t val) {
    EXPECT_EQ(v.write(MmioOffset(off), 4, val), AccessStatus::Ok) << "write at " << std::hex << off;
  };
  wr(dpll::kCtrl1, 1u << 7);   // DPLL 1: link-rate code 1 (270,000 kHz)
  wr(dpll::kCtrl2, 1u << 10);  // port D from DPLL 1
  wr(pipe_reg(p, trans::kLinkM1), 25 * hz);
  wr(pipe_reg(p, trans::kLinkN1), 2700);
  wr(pipe_reg(p, trans::kHtotal), (2000 - 1) << 16 | (width - 1));
  wr(pipe_reg(p, trans::kVtotal), (1250 - 1) << 16 | (height - 1));
  wr(pipe_reg(p, trans::kPipeSrc), (width - 1) << 16 | (height - 1));
}

// A GPU (default geometry unless given) with recorded management events.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override { init({}); }
  void init(GpuConfig cfg) {
    gpu = make_gpu(std::move(cfg));
    gpu->set_event_sink([this](const MgmtEvent& e) { events.push_back(e); });
  }
  Vgpu& create(const std::string& type = "GVTg_V5_8", uint64_t ram = 64ull << 20) {
    auto v = gpu->create_vgpu(type, make_ram(ram));
    if (!v) throw std::runtime_error(v.error().message);
    return **v;
  }

  static uint64_t rd(Vgpu& v, uint64_t off, unsigned size = 4) {
    uint64_t val = 0;
    EXPECT_EQ(v.read(MmioOffset(off), size, val), AccessStatus::Ok) << "read at " << std::hex << off;
    return val;
  }
  static void wr(Vgpu& v, uint64_t off, uint64_t val, unsigned size = 4) {
    EXPECT_EQ(v.write(MmioOffset(off), size, val), AccessStatus::Ok) << "write at " << std::hex << off;
  }
  static uint64_t pv(Vgpu& v, uint64_t field, unsigned size = 4) { return rd(v, hw::kPvinfoOffset + field, size); }
  static uint64_t gtt_off(Gma a) { return hw::gtt_entry_offset(a.page()).value(); }

  std::unique_ptr<Gpu> gpu;
  std::vector<MgmtEvent> events;
};

// One vGPU whose interrupts are counted (msis) rather than delivered.
class MsiCountingTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    v = &create();
    sink = std::make_unique<display::CallbackSink>([this] { ++msis; });
    v->set_interrupt_sink(sink.get());
  }

  Vgpu* v = nullptr;
  std::unique_ptr<display::CallbackSink> sink;
  int msis = 0;
};

}  // namespace vgd::test
