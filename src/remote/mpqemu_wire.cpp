#include "remote/mpqemu_wire.h"

#include <cstring>
#include <type_traits>

namespace vgd::remote::mpqemu {

namespace {

template <class T>
T load(std::span<const std::byte> bytes) {
  static_assert(std::is_trivially_copyable_v<T>);
  T v{};
  std::memcpy(&v, bytes.data(), sizeof(T));
  return v;
}

template <class T>
void append(std::vector<std::byte>& out, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

// Payload bytes each command carries (docs/vm.md, Wire format); RET may also come empty.
size_t payload_size_of(Command c) {
  switch (c) {
    case Command::SyncSysmem: return sizeof(SysmemPayload);
    case Command::Ret: return 8;
    case Command::PciConfigWrite:
    case Command::PciConfigRead: return sizeof(ConfigPayload);
    case Command::BarWrite:
    case Command::BarRead: return sizeof(BarPayload);
    case Command::SetIrqfd:
    case Command::DeviceReset: return 0;
  }
  return 0;
}

Expected<Message, WireError> parse_sysmem(std::span<const std::byte> payload, size_t fd_count) {
  if (fd_count == 0 || fd_count > kMaxRamFds) return Unexpected(WireError::WrongFdCount);
  const auto p = load<SysmemPayload>(payload);
  SyncSysmem m;
  for (size_t i = 0; i < fd_count; ++i) {
    Gpa end;
    if (p.sizes[i] == 0 || p.offsets[i] < 0 || !Gpa(p.gpas[i]).checked_add(p.sizes[i] - 1, end) ||
        static_cast<uint64_t>(p.offsets[i]) > UINT64_MAX - p.sizes[i]) {
      return Unexpected(WireError::BadRamRegion);
    }
    m.regions.push_back({Gpa(p.gpas[i]), p.sizes[i], static_cast<uint64_t>(p.offsets[i])});
  }
  return Message(std::move(m));
}

Expected<Message, WireError> parse_config(bool write, std::span<const std::byte> payload) {
  const auto p = load<ConfigPayload>(payload);
  if (p.len != 1 && p.len != 2 && p.len != 4) return Unexpected(WireError::BadAccessSize);
  const auto len = static_cast<uint32_t>(p.len);
  if (p.addr >= kConfigSpaceSize || len > kConfigSpaceSize - p.addr) {
    return Unexpected(WireError::ConfigOutOfRange);
  }
  return Message(ConfigAccess{write, p.addr, len, write ? p.val : 0});
}

Expected<Message, WireError> parse_bar(bool write, std::span<const std::byte> payload) {
  const auto p = load<BarPayload>(payload);
  if (p.size != 1 && p.size != 2 && p.size != 4 && p.size != 8) {
    return Unexpected(WireError::BadAccessSize);
  }
  return Message(BarAccess{write, p.memory != 0, Gpa(p.addr), p.size, write ? p.val : 0});
}

template <class P>
std::vector<std::byte> with_payload(Command c, const P& payload) {
  auto out = encode_header(static_cast<int32_t>(c), sizeof(P));
  append(out, payload);
  return out;
}

struct Encoder {
  std::vector<std::byte> operator()(const SyncSysmem& s) const {
    SysmemPayload p{};
    for (size_t i = 0; i < s.regions.size() && i < kMaxRamFds; ++i) {
      p.gpas[i] = s.regions[i].gpa.value();
      p.sizes[i] = s.regions[i].size;
      p.offsets[i] = static_cast<int64_t>(s.regions[i].fd_offset);
    }
    return with_payload(Command::SyncSysmem, p);
  }
  std::vector<std::byte> operator()(const ConfigAccess& c) const {
    const ConfigPayload p{c.offset, c.value, static_cast<int32_t>(c.len)};
    return with_payload(c.write ? Command::PciConfigWrite : Command::PciConfigRead, p);
  }
  std::vector<std::byte> operator()(const BarAccess& b) const {
    const BarPayload p{b.addr.value(), b.value, b.size, static_cast<uint8_t>(b.memory), {}};
    return with_payload(b.write ? Command::BarWrite : Command::BarRead, p);
  }
  std::vector<std::byte> operator()(const SetIrqfd&) const {
    return encode_header(static_cast<int32_t>(Command::SetIrqfd), 0);
  }
  std::vector<std::byte> operator()(const DeviceReset&) const {
    return encode_header(static_cast<int32_t>(Command::DeviceReset), 0);
  }
};

}  // namespace

std::string_view command_name(Command c) {
  switch (c) {
    case Command::SyncSysmem: return "SYNC_SYSMEM";
    case Command::Ret: return "RET";
    case Command::PciConfigWrite: return "PCI_CFGWRITE";
    case Command::PciConfigRead: return "PCI_CFGREAD";
    case Command::BarWrite: return "BAR_WRITE";
    case Command::BarRead: return "BAR_READ";
    case Command::SetIrqfd: return "SET_IRQFD";
    case Command::DeviceReset: return "DEVICE_RESET";
  }
  return "?";
}

std::string_view error_name(WireError e) {
  switch (e) {
    case WireError::ShortHeader: return "short header";
    case WireError::SizeTooLarge: return "payload size over 192";
    case WireError::UnknownCommand: return "unknown command";
    case WireError::UnexpectedReply: return "RET sent to the device";
    case WireError::WrongPayloadSize: return "payload size wrong for the command";
    case WireError::ShortPayload: return "short payload";
    case WireError::UnexpectedFds: return "descriptors on a command that takes none";
    case WireError::WrongFdCount: return "wrong number of descriptors";
    case WireError::BadAccessSize: return "bad access size";
    case WireError::ConfigOutOfRange: return "config access beyond 256 bytes";
    case WireError::BadRamRegion: return "bad RAM region";
  }
  return "?";
}

Expected<HeaderInfo, WireError> parse_header(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderSize) return Unexpected(WireError::ShortHeader);
  const auto h = load<Header>(bytes);
  if (h.size > kMaxPayload) return Unexpected(WireError::SizeTooLarge);
  if (h.cmd < 0 || h.cmd >= kCommandCount) return Unexpected(WireError::UnknownCommand);
  const auto cmd = static_cast<Command>(h.cmd);
  if (cmd == Command::Ret) return Unexpected(WireError::UnexpectedReply);
  if (h.size != payload_size_of(cmd)) return Unexpected(WireError::WrongPayloadSize);
  return HeaderInfo{cmd, static_cast<size_t>(h.size)};
}

Expected<Message, WireError> parse_payload(const HeaderInfo& h, std::span<const std::byte> payload,
                                           size_t fd_count) {
  if (payload.size() < h.payload_size) return Unexpected(WireError::ShortPayload);
  payload = payload.first(h.payload_size);
  if (h.cmd != Command::SyncSysmem && h.cmd != Command::SetIrqfd && fd_count != 0) {
    return Unexpected(WireError::UnexpectedFds);
  }
  switch (h.cmd) {
    case Command::SyncSysmem: return parse_sysmem(payload, fd_count);
    case Command::PciConfigWrite: return parse_config(true, payload);
    case Command::PciConfigRead: return parse_config(false, payload);
    case Command::BarWrite: return parse_bar(true, payload);
    case Command::BarRead: return parse_bar(false, payload);
    case Command::SetIrqfd:
      if (fd_count != 2) return Unexpected(WireError::WrongFdCount);
      return Message(SetIrqfd{});
    case Command::DeviceReset: return Message(DeviceReset{});
    case Command::Ret: break;
  }
  return Unexpected(WireError::UnexpectedReply);
}

Expected<Message, WireError> parse(std::span<const std::byte> bytes, size_t fd_count) {
  auto h = parse_header(bytes);
  if (!h) return Unexpected(h.error());
  return parse_payload(*h, bytes.subspan(kHeaderSize), fd_count);
}

std::array<std::byte, kRetSize> encode_ret(uint64_t value) {
  const Header h{static_cast<int32_t>(Command::Ret), 0, 8};
  std::array<std::byte, kRetSize> out{};
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + kHeaderSize, &value, sizeof value);
  return out;
}

std::vector<std::byte> encode_header(int32_t cmd, uint64_t size) {
  std::vector<std::byte> out;
  append(out, Header{cmd, 0, size});
  return out;
}

std::vector<std::byte> encode(const Message& m) { return std::visit(Encoder{}, m); }

}  // namespace vgd::remote::mpqemu
