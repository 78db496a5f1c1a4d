// The x-pci-proxy-dev message format (docs/vm.md, Wire format): QEMU's bytes parse into the
// right typed message, every way a message can be wrong is its own error, and what we send
// back is byte for byte what QEMU expects.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "remote/mpqemu_wire.h"
#include "remote_support.h"

namespace vgd::remote::mpqemu {
namespace {

using test::bytes;

const std::vector<std::byte> kCapturedBarRead = test::captured_bar_read();

template <class T>
T as(const Expected<Message, WireError>& m) {
  EXPECT_TRUE(m.has_value()) << error_name(m.error());
  return m ? std::get<T>(*m) : T{};
}

WireError error_of(const std::vector<std::byte>& b, size_t fds = 0) {
  auto m = parse(b, fds);
  EXPECT_FALSE(m.has_value());
  return m ? WireError::UnknownCommand : m.error();
}

// A message with its header's size field replaced.
std::vector<std::byte> with_size(std::vector<std::byte> b, uint64_t size) {
  std::memcpy(b.data() + 8, &size, sizeof size);
  return b;
}

TEST(MpqemuWire, CapturedBarReadParsesToAnAbsoluteAddress) {
  const auto b = as<BarAccess>(parse(kCapturedBarRead, 0));
  EXPECT_FALSE(b.write);
  EXPECT_TRUE(b.memory);
  EXPECT_EQ(b.addr, Gpa(0xfd078000));
  EXPECT_EQ(b.size, 4u);
  EXPECT_EQ(encode(b), kCapturedBarRead);  // and we encode it exactly as QEMU does
}

TEST(MpqemuWire, RetIsAHeaderAndAnEightByteValue) {
  const auto r = encode_ret(0x1122334455667788);
  const auto want = bytes({0x01, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0,
                           0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11});
  EXPECT_EQ(std::vector<std::byte>(r.begin(), r.end()), want);
}

TEST(MpqemuWire, ConfigAccessesCarryOffsetLengthAndValue) {
  const auto rd = bytes({0x03, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0,
                         0x0a, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0});
  EXPECT_EQ(as<ConfigAccess>(parse(rd, 0)), (ConfigAccess{false, 0x0a, 2, 0}));
  const auto wr = bytes({0x02, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0,
                         0x10, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04, 0, 0, 0});
  EXPECT_EQ(as<ConfigAccess>(parse(wr, 0)), (ConfigAccess{true, 0x10, 4, 0xffffffff}));
}

TEST(MpqemuWire, SyncSysmemHasOneRegionPerDescriptor) {
  // The map QEMU sends when it attaches at boot: low RAM below the VGA hole, then the rest of
  // a 256 MiB guest at its offset in the same memfd. Slots past the descriptors are ignored.
  const SyncSysmem boot{{{Gpa(0), 0xc0000, 0}, {Gpa(0x100000), (256u << 20) - 0x100000, 0x100000}}};
  auto wire = encode(boot);
  EXPECT_EQ(wire.size(), kHeaderSize + 192);
  EXPECT_EQ(as<SyncSysmem>(parse(wire, 2)), boot);
  const auto first = as<SyncSysmem>(parse(wire, 1));
  ASSERT_EQ(first.regions.size(), 1u);
  EXPECT_EQ(first.regions[0], boot.regions[0]);
}

TEST(MpqemuWire, ResetAndIrqfdAreHeaderOnly) {
  EXPECT_EQ(encode(DeviceReset{}).size(), kHeaderSize);
  EXPECT_TRUE(std::holds_alternative<DeviceReset>(*parse(encode(DeviceReset{}), 0)));
  EXPECT_TRUE(std::holds_alternative<SetIrqfd>(*parse(encode(SetIrqfd{}), 2)));
}

TEST(MpqemuWire, FramingErrors) {
  const auto reset = encode(DeviceReset{});
  EXPECT_EQ(error_of({reset.begin(), reset.begin() + 15}), WireError::ShortHeader);
  EXPECT_EQ(error_of(with_size(kCapturedBarRead, 193)), WireError::SizeTooLarge);
  EXPECT_EQ(error_of(with_size(kCapturedBarRead, UINT64_MAX)), WireError::SizeTooLarge);
  EXPECT_EQ(error_of(encode_header(8, 0)), WireError::UnknownCommand);
  EXPECT_EQ(error_of(encode_header(-1, 0)), WireError::UnknownCommand);
  EXPECT_EQ(error_of(encode_header(1, 8)), WireError::UnexpectedReply);
  EXPECT_EQ(error_of(with_size(kCapturedBarRead, 12)), WireError::WrongPayloadSize);
  EXPECT_EQ(error_of(encode_header(7, 8)), WireError::WrongPayloadSize);
  EXPECT_EQ(error_of({kCapturedBarRead.begin(), kCapturedBarRead.end() - 1}), WireError::ShortPayload);
}

TEST(MpqemuWire, DescriptorCounts) {
  EXPECT_EQ(error_of(kCapturedBarRead, 1), WireError::UnexpectedFds);
  EXPECT_EQ(error_of(encode(DeviceReset{}), 1), WireError::UnexpectedFds);
  EXPECT_EQ(error_of(encode(ConfigAccess{false, 0, 4, 0}), 2), WireError::UnexpectedFds);
  EXPECT_EQ(error_of(encode(SetIrqfd{}), 1), WireError::WrongFdCount);
  EXPECT_EQ(error_of(encode(SetIrqfd{}), 3), WireError::WrongFdCount);
  const auto sysmem = encode(SyncSysmem{{{Gpa(0), 4096, 0}}});
  EXPECT_EQ(error_of(sysmem, 0), WireError::WrongFdCount);
  EXPECT_EQ(error_of(sysmem, 9), WireError::WrongFdCount);
}

TEST(MpqemuWire, AccessShapes) {
  EXPECT_EQ(error_of(encode(ConfigAccess{false, 0, 3, 0})), WireError::BadAccessSize);
  EXPECT_EQ(error_of(encode(ConfigAccess{false, 0, 0, 0})), WireError::BadAccessSize);
  EXPECT_EQ(error_of(encode(ConfigAccess{true, 255, 2, 0})), WireError::ConfigOutOfRange);
  EXPECT_EQ(error_of(encode(ConfigAccess{true, 256, 1, 0})), WireError::ConfigOutOfRange);
  EXPECT_TRUE(parse(encode(ConfigAccess{false, 252, 4, 0}), 0).has_value());
  EXPECT_EQ(error_of(encode(BarAccess{false, true, Gpa(0x1000), 16, 0})), WireError::BadAccessSize);
  EXPECT_EQ(as<BarAccess>(parse(encode(BarAccess{true, true, Gpa(0x1000), 8, 42}), 0)).value, 42u);
}

TEST(MpqemuWire, RamRegionsMustBeUsable) {
  const auto region = [](uint64_t gpa, uint64_t size, uint64_t off) {
    return error_of(encode(SyncSysmem{{{Gpa(gpa), size, off}}}), 1);
  };
  EXPECT_EQ(region(0, 0, 0), WireError::BadRamRegion);
  EXPECT_EQ(region(0, 4096, uint64_t{1} << 63), WireError::BadRamRegion);  // negative off_t
  EXPECT_EQ(region(UINT64_MAX - 4095, 8192, 0), WireError::BadRamRegion);
  EXPECT_TRUE(parse(encode(SyncSysmem{{{Gpa(UINT64_MAX - 4095), 4096, 0}}}), 1).has_value());
}

}  // namespace
}  // namespace vgd::remote::mpqemu
