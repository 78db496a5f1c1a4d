// A device served over x-pci-proxy-dev (docs/vm.md), driven by a fake QEMU over a socketpair:
// QEMU's start-up sequence, BAR accesses at absolute addresses reaching the device at the right
// offset, guest RAM through the descriptors QEMU sends, INTx through irqfd/resamplefd, and the
// failures: a malformed message or a vanished QEMU ends that VM's session only.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include "remote_support.h"

namespace vgd::remote::test {
namespace {

using mq::Command;

UniqueFd make_memfd(uint64_t size) {
  UniqueFd fd(::memfd_create("guest-ram", MFD_CLOEXEC));
  EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  return fd;
}

void signal(int efd) {
  const uint64_t one = 1;
  ASSERT_EQ(::write(efd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
}

TEST(ProxySession, StartupSequenceAsQemuRunsIt) {
  Vm vm;
  FakeQemu& q = *vm.qemu;
  // The memory listener fires first: RAM below the VGA hole and above 1 MiB, two descriptors
  // of the same memfd (as QEMU sends at boot).
  const UniqueFd ram = make_memfd(16u << 20);
  const uint64_t marker = 0x5ca1ab1e00c0ffee;
  ASSERT_EQ(::pwrite(ram.get(), &marker, sizeof marker, 0x102000), static_cast<ssize_t>(sizeof marker));
  q.send(mq::SyncSysmem{{{Gpa(0), 0xc0000, 0}, {Gpa(0x100000), (16u << 20) - 0x100000, 0x100000}}},
         {ram.get(), ram.get()});
  const UniqueFd irq = make_eventfd(), resample = make_eventfd();
  q.send(mq::SetIrqfd{}, {irq.get(), resample.get()});

  // Then the proxy probes the IDs the guest will see (replies checked byte for byte).
  q.send(mq::ConfigAccess{false, 0x00, 2, 0});
  EXPECT_EQ(q.raw_reply(), (bytes({0x01, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0,
                                   0xf4, 0x1a, 0, 0, 0, 0, 0, 0})));
  EXPECT_EQ(q.config_read(0x02, 2), 0x10f0u);
  EXPECT_EQ(q.config_read(0x0a, 2), 0x0380u);
  EXPECT_EQ(q.config_read(0x2e, 2), 0x10f0u);
  // Messages are handled in order, so RAM and the eventfds have arrived by now.
  EXPECT_EQ(vm.device.ram_map(),
            (std::vector<std::pair<Gpa, uint64_t>>{{Gpa(0), 0xc0000}, {Gpa(0x100000), (16u << 20) - 0x100000}}));
  EXPECT_EQ(vm.device.read_ram(Gpa(0x102000)), marker);
  EXPECT_NE(vm.intx.resample_fd(), -1);

  // BAR sizing of 0x10..0x28 as the proxy's realize does it.
  for (uint32_t off = 0x10; off <= 0x28; off += 4) {
    const auto orig = q.config_read(off, 4);
    q.config_write(off, 4, 0xffffffff);
    EXPECT_EQ(q.config_read(off, 4), off == 0x10 ? 0xff000000u : 0u) << std::hex << off;
    q.config_write(off, 4, static_cast<uint32_t>(orig.value_or(0)));
  }
  q.send(mq::DeviceReset{});
  EXPECT_EQ(q.reply(), 0u);
  EXPECT_EQ(vm.device.resets(), 1);

  // The BIOS places BAR0 and turns on memory decoding; accesses then arrive at absolute
  // guest-physical addresses and reach the device at BAR offsets.
  q.config_write(0x10, 4, 0xfd000000);
  EXPECT_EQ(vm.session->counters().bar0_base, 0u) << "memory decoding is still off";
  q.config_write(0x04, 2, 0x0002);
  EXPECT_EQ(vm.session->counters().bar0_base, 0xfd000000u);
  q.bar_write(0xfd078000, 8, 0x4776544776544776);
  q.send_raw(captured_bar_read());  // the captured 4-byte read of BAR0 + 0x78000
  EXPECT_EQ(q.reply(), 0x76544776u);
  q.bar_write(0xfd800008, 8, 0x12345001);  // a GGTT entry
  EXPECT_EQ(vm.device.accesses(), (std::vector<FakeEndpoint::Access>{
                                      {true, 0x78000, 8, 0x4776544776544776},
                                      {false, 0x78000, 4, 0x4776544776544776},
                                      {true, 0x800008, 8, 0x12345001}}));
  // Outside BAR0, or with decoding off: nobody answers.
  EXPECT_EQ(q.bar_read(0xfe000000, 4), 0xffffffffu);
  q.config_write(0x04, 2, 0);
  EXPECT_EQ(q.bar_read(0xfd078000, 2), 0xffffu);
  EXPECT_EQ(vm.device.accesses().size(), 3u);

  const auto c = vm.session->counters();
  EXPECT_EQ(c.messages[static_cast<int>(Command::SyncSysmem)], 1u);
  EXPECT_EQ(c.messages[static_cast<int>(Command::SetIrqfd)], 1u);
  EXPECT_EQ(c.messages[static_cast<int>(Command::PciConfigRead)], 4u + 7 * 2);
  EXPECT_EQ(c.messages[static_cast<int>(Command::PciConfigWrite)], 7u * 2 + 3);
  EXPECT_EQ(c.messages[static_cast<int>(Command::BarRead)], 3u);
  EXPECT_EQ(c.messages[static_cast<int>(Command::BarWrite)], 2u);
  EXPECT_EQ(c.messages[static_cast<int>(Command::DeviceReset)], 1u);
  EXPECT_EQ(c.ram_updates, 1u);
  EXPECT_EQ(c.bar_misses, 2u);
  EXPECT_EQ(c.bar0_base, 0u);
  EXPECT_EQ(c.malformed, 0u);
}

TEST(ProxySession, MessagesSplitAcrossWritesAreReassembled) {
  Vm vm;
  const auto read = mq::encode(mq::ConfigAccess{false, 0, 4, 0});
  vm.qemu->send_raw(std::span(read).first(5));
  vm.qemu->send_raw(std::span(read).subspan(5, 15));
  vm.qemu->send_raw(std::span(read).subspan(20));
  EXPECT_EQ(vm.qemu->reply(), 0x10f01af4u);
}

TEST(ProxySession, IntxThroughIrqfdAndResample) {
  Vm vm;
  FakeQemu& q = *vm.qemu;
  const UniqueFd irq = make_eventfd(), resample = make_eventfd();
  q.send(mq::SetIrqfd{}, {irq.get(), resample.get()});
  EXPECT_EQ(q.config_read(0x06, 2), 0x10u);  // status: a capability list, no interrupt pending

  vm.intx.set_level(true);
  EXPECT_EQ(drain(irq.get()), 1u) << "rising edge";
  vm.intx.set_level(true);
  EXPECT_EQ(drain(irq.get()), 0u) << "already high";
  EXPECT_EQ(q.config_read(0x06, 2), 0x18u);  // status: interrupt pending

  // The guest's EOI: the interrupt controller signals the resamplefd; the line is still high,
  // so the interrupt is asserted again.
  signal(resample.get());
  ASSERT_TRUE(eventually([&] { return vm.intx.counters().resamples == 1; }));
  EXPECT_EQ(drain(irq.get()), 1u);
  // Once the device lowers the line, an EOI asserts nothing.
  vm.intx.set_level(false);
  signal(resample.get());
  ASSERT_TRUE(eventually([&] { return vm.intx.counters().resamples == 2; }));
  EXPECT_EQ(drain(irq.get()), 0u);

  // The command register's INTx disable masks the line; clearing it shows a held line.
  q.config_write(0x04, 2, 0x0400);
  vm.intx.set_level(true);
  EXPECT_EQ(drain(irq.get()), 0u);
  q.config_write(0x04, 2, 0);
  EXPECT_EQ(drain(irq.get()), 1u);

  // A device reset clears INTx disable along with the rest of the config space.
  q.config_write(0x04, 2, 0x0400);
  q.send(mq::DeviceReset{});
  EXPECT_EQ(q.reply(), 0u);
  EXPECT_EQ(q.config_read(0x04, 2), 0u);
}

// The guest's function-level reset through the Advanced Features capability (docs/vm.md,
// Config space): the device resets as at DEVICE_RESET, but the VM's RAM stays with it.
TEST(ProxySession, AfFlrResetsTheDeviceAndKeepsTheRam) {
  Vm vm;
  FakeQemu& q = *vm.qemu;
  const UniqueFd ram = make_memfd(1u << 20);
  const uint64_t marker = 0x5eed5eed5eed5eedull;
  ASSERT_EQ(::pwrite(ram.get(), &marker, sizeof marker, 0x2000), static_cast<ssize_t>(sizeof marker));
  q.send(mq::SyncSysmem{{{Gpa(0), 1u << 20, 0}}}, {ram.get()});
  q.config_write(0x10, 4, 0xfd000000);
  q.config_write(0x04, 2, 0x0006);
  ASSERT_EQ(vm.session->counters().bar0_base, 0xfd000000u);
  EXPECT_EQ(q.config_read(0x34, 1), 0x40u);
  EXPECT_EQ(q.config_read(0x40, 4), 0x03060013u);  // AF, last in the list, length 6, TP | FLR

  q.config_write(0x44, 1, 0x01);
  EXPECT_EQ(vm.device.resets(), 1);
  EXPECT_EQ(vm.session->counters().function_resets, 1u);
  EXPECT_EQ(vm.session->counters().bar0_base, 0u) << "config space is back to power-on values";
  EXPECT_EQ(q.config_read(0x10, 4), 0u);
  EXPECT_EQ(q.config_read(0x44, 1), 0u);
  EXPECT_EQ(vm.device.read_ram(Gpa(0x2000)), marker) << "the VM's RAM is still mapped";
  // Linux restores config space after the reset; the BAR decodes again.
  q.config_write(0x10, 4, 0xfd000000);
  q.config_write(0x04, 2, 0x0006);
  EXPECT_EQ(vm.session->counters().bar0_base, 0xfd000000u);
}

TEST(IntxLine, ConnectingWhileHighSignalsAtOnce) {
  IntxLine line;
  line.set_level(true);  // nobody listening yet
  const UniqueFd irq = make_eventfd(), resample = make_eventfd();
  line.connect(UniqueFd(::dup(irq.get())), UniqueFd(::dup(resample.get())));
  EXPECT_EQ(drain(irq.get()), 1u);
  line.on_resample();  // woken with nothing to read: no re-assert
  EXPECT_EQ(drain(irq.get()), 0u);
  line.disconnect();
  line.set_level(false);
  line.set_level(true);
  EXPECT_EQ(drain(irq.get()), 0u);
  EXPECT_EQ(line.counters().rising, 2u);
  EXPECT_EQ(line.counters().signals, 1u);
}

TEST(ProxySession, QemuExitDetachesTheDevice) {
  Vm vm;
  const UniqueFd irq = make_eventfd(), resample = make_eventfd();
  vm.qemu->send(mq::SetIrqfd{}, {irq.get(), resample.get()});
  EXPECT_EQ(vm.qemu->config_read(0, 2), 0x1af4u);
  vm.qemu->close();
  const auto d = vm.end();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, DetachReason::PeerClosed);
  // The line is disconnected from that VM's eventfds.
  vm.intx.set_level(true);
  EXPECT_EQ(drain(irq.get()), 0u);
}

TEST(ProxySession, StopEndsTheSession) {
  Vm vm;
  vm.session->stop();
  const auto d = vm.end();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->reason, DetachReason::Stopped);
  EXPECT_TRUE(vm.qemu->closed_by_device());
}

TEST(ProxySession, QemuThatStopsReadingRepliesIsDetached) {
  Vm vm("stalled", std::chrono::milliseconds(50));
  // Requests without ever reading a reply, until the replies fill the socket and the session
  // gives up (then our sends fail, as QEMU's would).
  const auto read = mq::encode(mq::ConfigAccess{false, 0, 4, 0});
  ASSERT_TRUE(eventually([&] {
    while (::send(vm.qemu->fd(), read.data(), read.size(), MSG_NOSIGNAL | MSG_DONTWAIT) > 0) {
    }
    return vm.ended.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }));
  EXPECT_EQ(vm.end()->reason, DetachReason::ReplyStalled);
  EXPECT_GT(vm.session->counters().bytes_out, 0u);
}

TEST(ProxySession, RamUpdatesReplaceTheMapWithoutLeakingDescriptors) {
  const size_t before = open_fds();
  {
    Vm vm;
    const UniqueFd ram = make_memfd(1u << 20);
    const size_t running = open_fds();
    // A boot sends about 70 maps, each with fresh descriptors.
    for (int i = 0; i < 100; ++i) {
      vm.qemu->send(mq::SyncSysmem{{{Gpa(0), 0x80000, 0}, {Gpa(0x100000), 0x80000, 0x80000}}}, {ram.get(), ram.get()});
    }
    EXPECT_EQ(vm.qemu->config_read(0, 2), 0x1af4u);
    EXPECT_EQ(vm.device.ram_updates(), 100);
    EXPECT_EQ(open_fds(), running + 2) << "only the current map's two descriptors stay open";
    vm.device.drop_ram();
  }
  EXPECT_EQ(open_fds(), before);
}

// Each malformed message ends the session that got it, with its reason, and no other.
struct MalformedCase {
  const char* name;
  const char* reason;  // part of the logged detail
  std::function<void(FakeQemu&, const std::vector<int>& spare_fds)> send;
};

void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class Malformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(Malformed, ClosesThatVmOnly) {
  const size_t before = open_fds();
  {
    std::vector<UniqueFd> spare;
    std::vector<int> spare_fds;
    for (int i = 0; i < 9; ++i) {
      spare.push_back(make_eventfd());
      spare_fds.push_back(spare.back().get());
    }
    Vm victim("victim"), bystander("bystander");
    EXPECT_EQ(bystander.qemu->config_read(0, 2), 0x1af4u);
    GetParam().send(*victim.qemu, spare_fds);
    const auto d = victim.end();
    ASSERT_TRUE(d) << "the session did not end";
    EXPECT_EQ(d->reason, DetachReason::Malformed);
    EXPECT_NE(d->detail.find(GetParam().reason), std::string::npos) << d->detail;
    EXPECT_TRUE(victim.qemu->closed_by_device());
    EXPECT_EQ(victim.session->counters().malformed, 1u);
    // The other VM's device keeps answering.
    EXPECT_EQ(bystander.qemu->config_read(0x02, 2), 0x10f0u);
    EXPECT_EQ(bystander.ended.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
    EXPECT_EQ(victim.device.accesses().size(), 0u);
  }
  EXPECT_EQ(open_fds(), before) << "every descriptor received is closed";
}

const MalformedCase kMalformed[] = {
    {"ShortHeaderThenEof", "short header",
     [](FakeQemu& q, const std::vector<int>&) {
       const auto reset = mq::encode(mq::DeviceReset{});
       q.send_raw(std::span(reset).first(10));
       ::shutdown(q.fd(), SHUT_WR);
     }},
    {"SizeOver192", "payload size over 192",
     [](FakeQemu& q, const std::vector<int>&) { q.send_raw(mq::encode_header(5, 193)); }},
    {"UnknownCommand", "unknown command",
     [](FakeQemu& q, const std::vector<int>&) { q.send_raw(mq::encode_header(8, 0)); }},
    {"RetSentToTheDevice", "RET sent to the device",
     [](FakeQemu& q, const std::vector<int>&) { q.send_raw(mq::encode_ret(0)); }},
    {"WrongPayloadSize", "payload size wrong",
     [](FakeQemu& q, const std::vector<int>&) { q.send_raw(mq::encode_header(7, 8)); }},
    {"FdsOnBarRead", "descriptors on a command that takes none",
     [](FakeQemu& q, const std::vector<int>& fds) { q.send_raw(captured_bar_read(), {fds[0]}); }},
    {"SetIrqfdWithOneFd", "wrong number of descriptors",
     [](FakeQemu& q, const std::vector<int>& fds) { q.send(mq::SetIrqfd{}, {fds[0]}); }},
    {"SyncSysmemWithNineFds", "more than 8 descriptors",
     [](FakeQemu& q, const std::vector<int>& fds) {
       q.send(mq::SyncSysmem{{{Gpa(0), 4096, 0}}}, fds);
     }},
    {"BadConfigLength", "bad access size",
     [](FakeQemu& q, const std::vector<int>&) { q.send(mq::ConfigAccess{false, 0, 3, 0}); }},
};

INSTANTIATE_TEST_SUITE_P(ProxySession, Malformed, ::testing::ValuesIn(kMalformed),
                         [](const auto& test_case) { return std::string(test_case.param.name); });

}  // namespace
}  // namespace vgd::remote::test
