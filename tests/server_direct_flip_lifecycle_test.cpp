// Direct flip across what happens to a VM's vGPU at run time (docs/direct-flip.md, "In the
// daemon"): vgpud in-process with a virtual monitor, its vGPU configured onto Virtual-1 and
// driven by a fake QEMU over the socket AttachVm hands out. The VM's guest driver (the guest
// core, its loads and stores sent as BAR accesses, its RAM the memfd "QEMU" sent) lights its pipe
// and the monitor shows its picture; a function-level reset turns the planes off and keeps the
// assignment; a VM that leaves takes its RAM with it (nothing of it stays mapped) and the output
// stays assigned, dark, until the next VM shows its own picture there; a new RAM map while the
// pipe is on shows the pipe again through the new map.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "client/connection.h"
#include "daemon_support.h"
#include "guest/display.h"
#include "guest/driver.h"
#include "hw/pvinfo.h"
#include "remote/pci_function.h"
#include "remote_support.h"

namespace vgd {
namespace {

using remote::test::eventually;
using remote::test::FakeQemu;

constexpr uint64_t kBar0 = 0xfd000000;
constexpr uint64_t kMiB = 1ull << 20;

// The VM's RAM: a sealed memfd (as memory-backend-memfd makes it), mapped for its guest.
class VmRam final : public guest::RamPort {
 public:
  VmRam(const char* name, uint64_t size) : name_(name), size_(size) {
    fd_.reset(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
    EXPECT_EQ(::ftruncate(fd_.get(), static_cast<off_t>(size)), 0);
    EXPECT_EQ(::fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    EXPECT_NE(m, MAP_FAILED);
    base_ = static_cast<std::byte*>(m);
  }
  ~VmRam() { close(); }
  uint64_t size() const override { return size_; }
  std::byte* at(Gpa gpa, uint64_t len) override {
    return len <= size_ && gpa.value() <= size_ - len ? base_ + gpa.value() : nullptr;
  }
  int fd() const { return fd_.get(); }
  // The VM's own references go (QEMU exited): only the daemon could keep its pages now.
  void close() {
    if (base_) ::munmap(base_, size_);
    base_ = nullptr;
    fd_.reset();
  }
  // Mappings of this memfd anywhere in the process.
  int mappings() const {
    std::ifstream maps("/proc/self/maps");
    int n = 0;
    for (std::string line; std::getline(maps, line);) n += line.find("memfd:" + name_ + " ") != std::string::npos;
    return n;
  }

 private:
  std::string name_;
  uint64_t size_;
  UniqueFd fd_;
  std::byte* base_ = nullptr;
};

// The guest's loads and stores of BAR0, as QEMU forwards them.
class QemuMmio final : public guest::MmioPort {
 public:
  explicit QemuMmio(FakeQemu& q) : q_(&q) {}
  uint64_t read(MmioOffset off, unsigned size) override { return q_->bar_read(kBar0 + off.value(), size).value_or(0); }
  void write(MmioOffset off, unsigned size, uint64_t v) override { q_->bar_write(kBar0 + off.value(), size, v); }

 private:
  FakeQemu* q_;
};

// A halted vCPU: a vblank (60 Hz) comes within a few of these.
class SleepIdle final : public guest::IdlePort {
 public:
  void idle() override { std::this_thread::sleep_for(std::chrono::milliseconds(10)); }
};

// The VM's guest: firmware places BAR0, the driver probes, balloons and lights pipe A with a
// 1024x768 surface of one colour.
struct VmGuest {
  VmGuest(FakeQemu& qemu, VmRam& vm_ram, const GpuGeometry& g)
      : q(&qemu), ram(&vm_ram), mmio(qemu),
        driver(mmio, vm_ram, {g.ggtt_size, g.aperture_size, GpaRange{Gpa(kMiB), vm_ram.size() - kMiB}}),
        display(driver, idle) {}
  void boot_and_show(uint32_t xrgb) {
    q->config_write(0x10, 4, static_cast<uint32_t>(kBar0));
    q->config_write(0x04, 2, 0x0002);
    ASSERT_EQ(driver.probe(), guest::Error::None);
    ASSERT_EQ(driver.balloon(), guest::Error::None);
    ASSERT_EQ(driver.set_display_ready(true), guest::Error::None);
    guest::Surface s;
    ASSERT_EQ(display.create_surface(1024, 768, guest::PixelFormat::Xrgb8888, hw::Tiling::Linear, s), guest::Error::None);
    surface = s;
    paint(xrgb);
    ASSERT_EQ(display.modeset(hw::Pipe::A, guest::kMode1024x768at60, s), guest::Error::None);
  }
  // Draws into the surface on screen, without a flip (and without damage hints).
  void paint(uint32_t xrgb) {
    auto* px = reinterpret_cast<uint32_t*>(ram->at(surface.buffer.gpa, surface.buffer.size));
    ASSERT_NE(px, nullptr);
    std::fill(px, px + surface.buffer.size / 4, xrgb);
  }

  FakeQemu* q;
  VmRam* ram;
  QemuMmio mmio;
  SleepIdle idle;
  guest::Driver driver;
  guest::Display display;
  guest::Surface surface;
};

bool all_of(const std::shared_ptr<const fb::Image>& img, uint32_t xrgb) {
  return img && img->width == 1024 && img->height == 768 &&
         std::all_of(img->px.begin(), img->px.end(), [&](uint32_t p) { return (p & 0xFFFFFF) == xrgb; });
}

class DirectFlipLifecycleTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kVm = 1;

  void SetUp() override {
    DaemonConfig cfg;
    VgpuSpec vm;
    vm.guest = GuestKind::Qemu;
    vm.direct_flip = DirectFlipSpec{"Virtual-1", hw::Pipe::A};
    cfg.vgpus = {vm};
    cfg.host_display.backend = HostDisplayConfig::Backend::Virtual;
    cfg.host_display.outputs = {{"Virtual-1", 1024, 768, 60}};  // the guest's mode: imports
    daemon.start(cfg, "direct-flip-lifecycle", {.max_clients = 8});
    ASSERT_NE(daemon.host, nullptr);
    links = daemon.host->links();
    ASSERT_NE(links, nullptr);
    crtc = links->outputs().at(0).crtc;
    auto c = client::Connection::connect(daemon.path, "lifecycle-test");
    ASSERT_TRUE(c) << c.error().message;
    conn.emplace(std::move(*c));
  }
  void TearDown() override {
    conn.reset();
    daemon.stop();
  }

  std::shared_ptr<const fb::Image> screen() { return links->virtual_monitor()->scanout(crtc).image; }
  bool black() {
    auto img = screen();
    return img && std::all_of(img->px.begin(), img->px.end(), [](uint32_t p) { return (p & 0xFFFFFF) == 0; });
  }
  uint32_t vgpu_on_output() { return links->outputs().at(0).vgpu; }
  bool vm_attached() { return daemon.host->find(kVm)->vm_attached(); }
  // A VM attaches and sends its RAM: one flat section, as after the BIOS, or as QEMU's pc machine
  // sends it at boot ([0, 768 KiB) and [1 MiB, size), a hole between).
  FakeQemu attach(VmRam& ram, bool boot_map = false) {
    auto sock = conn->attach_vm(kVm);
    EXPECT_TRUE(sock) << sock.error().message;
    FakeQemu q(std::move(*sock));
    if (boot_map)
      q.send(remote::mpqemu::SyncSysmem{{{Gpa(0), 0xc0000, 0}, {Gpa(kMiB), ram.size() - kMiB, kMiB}}}, {ram.fd(), ram.fd()});
    else
      q.send(remote::mpqemu::SyncSysmem{{{Gpa(0), ram.size(), 0}}}, {ram.fd()});
    return q;
  }

  test::RunningDaemon daemon;
  server::DisplayLinks* links = nullptr;
  uint32_t crtc = 0;
  std::optional<client::Connection> conn;
};

TEST_F(DirectFlipLifecycleTest, AResetKeepsTheOutputAndAVmThatLeavesTakesItsRamWithIt) {
  constexpr uint32_t kFirst = 0x20c040, kAfterReset = 0x4080c0, kSecondVm = 0xc08020;
  const GpuGeometry geometry = daemon.host->gpu().geometry();
  VmRam ram("df-lifecycle-vm-a", 64 * kMiB);
  {
    FakeQemu q = attach(ram);
    VmGuest g(q, ram, geometry);
    g.boot_and_show(kFirst);
    ASSERT_TRUE(eventually([&] { return all_of(screen(), kFirst); })) << "the VM's picture on Virtual-1";

    // A function-level reset (the guest's driver asked for it): the pipe goes off, so do the
    // planes; the assignment stays, and the rebooted driver's picture shows there again.
    q.config_write(remote::cfg::kAfCtrl, 1, remote::cfg::kAfCtrlFlr);
    EXPECT_TRUE(eventually([&] { return black(); })) << "the reset turned the planes off";
    EXPECT_EQ(vgpu_on_output(), kVm) << "a reset keeps the assignment";
    VmGuest rebooted(q, ram, geometry);
    rebooted.boot_and_show(kAfterReset);
    EXPECT_TRUE(eventually([&] { return all_of(screen(), kAfterReset); })) << "the rebooted guest's picture";
    EXPECT_EQ(links->stats().renewed, 0u) << "the same RAM: nothing to let go";
  }  // QEMU exits: its socket closes
  ASSERT_TRUE(eventually([&] { return !vm_attached(); }));
  EXPECT_TRUE(eventually([&] { return black(); })) << "the VM's pipe went off with it";
  EXPECT_EQ(vgpu_on_output(), kVm) << "the config's assignment waits for the next VM";
  EXPECT_EQ(links->stats().renewed, 1u) << "the link was made anew without the old RAM";
  ram.close();
  EXPECT_TRUE(eventually([&] { return ram.mappings() == 0; }))
      << "nothing of the VM that left stays mapped: " << ram.mappings() << " mapping(s) of its RAM";

  // The next VM, another RAM: its own picture, not a stale one of the first VM's pages.
  VmRam second("df-lifecycle-vm-b", 64 * kMiB);
  FakeQemu q = attach(second);
  VmGuest g(q, second, geometry);
  g.boot_and_show(kSecondVm);
  EXPECT_TRUE(eventually([&] { return all_of(screen(), kSecondVm); }))
      << "the second VM's picture on Virtual-1, not " << std::hex << (screen() ? screen()->px.at(0) : 0);
  EXPECT_TRUE(eventually([&] {  // the status is published every 100 ms
    const auto st = daemon.host->find(kVm)->published();
    return st.direct_flip && st.direct_flip->output == "Virtual-1" && st.direct_flip->counters.imports > 0;
  })) << "the second VM's pages, without a copy";
}

// QEMU sends a map of another layout while the pipe is on (the BIOS done: one section instead of
// the boot map's two): the link is made anew and puts the running pipe up again by itself, read
// through the new map. The guest drew a new colour meanwhile without flipping, so only a frame
// the new link built shows it (the old one, seeing neither a flip nor damage, would not commit).
TEST_F(DirectFlipLifecycleTest, ANewRamMapWhileThePipeIsOnShowsThePipeAgainFromTheNewMap) {
  constexpr uint32_t kBefore = 0x305070, kDrawnSince = 0xa0c020;
  VmRam ram("df-lifecycle-vm-map", 64 * kMiB);
  FakeQemu q = attach(ram, /*boot_map=*/true);
  VmGuest g(q, ram, daemon.host->gpu().geometry());
  g.boot_and_show(kBefore);
  ASSERT_TRUE(eventually([&] { return all_of(screen(), kBefore); }));
  g.paint(kDrawnSince);
  q.send(remote::mpqemu::SyncSysmem{{{Gpa(0), ram.size(), 0}}}, {ram.fd()});
  EXPECT_TRUE(eventually([&] { return links->stats().renewed == 1; })) << "a new layout: the link made anew";
  EXPECT_TRUE(eventually([&] { return all_of(screen(), kDrawnSince); }))
      << "the pipe shown again through the new map, not " << std::hex << (screen() ? screen()->px.at(0) : 0);
  EXPECT_EQ(vgpu_on_output(), kVm);
  // The same map again changes nothing (QEMU resends its map many times per boot).
  q.send(remote::mpqemu::SyncSysmem{{{Gpa(0), ram.size(), 0}}}, {ram.fd()});
  EXPECT_EQ(q.bar_read(kBar0 + hw::kPvinfoOffset + hw::pv::kMagic, 8), hw::kPvinfoMagic) << "handled in order";
  EXPECT_EQ(links->stats().renewed, 1u);
}

}  // namespace
}  // namespace vgd
