// The message format of QEMU's multi-process protocol (the `x-pci-proxy-dev` device), as pure
// functions: a 16-byte header, at most 192 payload bytes, descriptors passed alongside the header
// (docs/vm.md, Wire format). Parsing never trusts the peer: every way a message can be wrong is a
// typed error, so the session can say which and close that VM's connection only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "util/address.h"
#include "util/expected.h"

namespace vgd::remote::mpqemu {

enum class Command : int32_t {
  SyncSysmem = 0,
  Ret = 1,
  PciConfigWrite = 2,
  PciConfigRead = 3,
  BarWrite = 4,
  BarRead = 5,
  SetIrqfd = 6,
  DeviceReset = 7,
};
inline constexpr int32_t kCommandCount = 8;
std::string_view command_name(Command c);

inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kMaxPayload = 192;  // sizeof the payload union on QEMU's side
inline constexpr size_t kMaxRamFds = 8;     // RAM sections per SYNC_SYSMEM
inline constexpr size_t kConfigSpaceSize = 256;

// Wire layouts (x86-64, little endian). Plain structs copied with memcpy, never cast onto bytes.
struct Header {
  int32_t cmd;
  uint32_t pad;
  uint64_t size;  // payload bytes that follow
};
static_assert(sizeof(Header) == kHeaderSize);
static_assert(offsetof(Header, cmd) == 0 && offsetof(Header, size) == 8);

struct SysmemPayload {
  uint64_t gpas[kMaxRamFds];
  uint64_t sizes[kMaxRamFds];
  int64_t offsets[kMaxRamFds];  // into the matching fd
};
static_assert(sizeof(SysmemPayload) == kMaxPayload);
static_assert(offsetof(SysmemPayload, sizes) == 64 && offsetof(SysmemPayload, offsets) == 128);

struct ConfigPayload {
  uint32_t addr;
  uint32_t val;
  int32_t len;
};
static_assert(sizeof(ConfigPayload) == 12);
static_assert(offsetof(ConfigPayload, val) == 4 && offsetof(ConfigPayload, len) == 8);

struct BarPayload {
  uint64_t addr;  // absolute guest-physical address, not an offset into the BAR
  uint64_t val;
  uint32_t size;
  uint8_t memory;  // 1: memory BAR, 0: I/O BAR
  uint8_t pad[3];
};
static_assert(sizeof(BarPayload) == 24);
static_assert(offsetof(BarPayload, val) == 8 && offsetof(BarPayload, size) == 16 &&
              offsetof(BarPayload, memory) == 20);

// Typed messages QEMU sends to the remote end. Descriptors are not part of them: the session
// holds those, and parse() only checks how many came.
struct RamRegion {
  Gpa gpa;
  uint64_t size = 0;
  uint64_t fd_offset = 0;
  friend bool operator==(const RamRegion&, const RamRegion&) = default;
};
struct SyncSysmem {
  std::vector<RamRegion> regions;  // one per descriptor, in order
  friend bool operator==(const SyncSysmem&, const SyncSysmem&) = default;
};
struct ConfigAccess {
  bool write = false;
  uint32_t offset = 0;
  uint32_t len = 0;  // 1, 2 or 4
  uint32_t value = 0;
  friend bool operator==(const ConfigAccess&, const ConfigAccess&) = default;
};
struct BarAccess {
  bool write = false;
  bool memory = true;
  Gpa addr;
  uint32_t size = 0;  // 1, 2, 4 or 8
  uint64_t value = 0;
  friend bool operator==(const BarAccess&, const BarAccess&) = default;
};
struct SetIrqfd {
  friend bool operator==(const SetIrqfd&, const SetIrqfd&) = default;
};
struct DeviceReset {
  friend bool operator==(const DeviceReset&, const DeviceReset&) = default;
};
using Message = std::variant<SyncSysmem, ConfigAccess, BarAccess, SetIrqfd, DeviceReset>;

enum class WireError : uint8_t {
  ShortHeader,        // fewer than 16 bytes before the stream ended
  SizeTooLarge,       // header announces more than 192 payload bytes
  UnknownCommand,     // cmd outside 0..7
  UnexpectedReply,    // RET sent to the remote end, which only ever answers
  WrongPayloadSize,   // payload size does not match the command
  ShortPayload,       // fewer payload bytes than the header announced
  UnexpectedFds,      // descriptors on a command that carries none
  WrongFdCount,       // SET_IRQFD without exactly 2, SYNC_SYSMEM without 1..8
  BadAccessSize,      // config length not 1/2/4, BAR size not 1/2/4/8
  ConfigOutOfRange,   // config access beyond the 256-byte space
  BadRamRegion,       // empty region, negative offset, or a range that wraps
};
std::string_view error_name(WireError e);

// What the header alone says: the command and its payload size, checked against each other,
// so the reader knows how many payload bytes to take (or that the stream is unusable).
struct HeaderInfo {
  Command cmd;
  size_t payload_size;
};
Expected<HeaderInfo, WireError> parse_header(std::span<const std::byte> bytes);

// One whole message: header, then payload (trailing bytes are the next message's), received
// together with `fd_count` descriptors.
Expected<Message, WireError> parse(std::span<const std::byte> bytes, size_t fd_count);
// The payload of a message whose header has already been parsed.
Expected<Message, WireError> parse_payload(const HeaderInfo& h, std::span<const std::byte> payload,
                                           size_t fd_count);

// RET: the answer to every request except SYNC_SYSMEM and SET_IRQFD.
inline constexpr size_t kRetSize = kHeaderSize + 8;
std::array<std::byte, kRetSize> encode_ret(uint64_t value);

// Requests as QEMU encodes them (the fake QEMU in tests, the fuzzer's seeds). The descriptor
// count of SYNC_SYSMEM is the number of regions; the unused slots stay zero, as QEMU leaves them.
std::vector<std::byte> encode(const Message& m);
std::vector<std::byte> encode_header(int32_t cmd, uint64_t size);

}  // namespace vgd::remote::mpqemu
