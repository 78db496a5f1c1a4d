// Building, sending and receiving protocol packets: a header, a body of plain structs, and up
// to kMaxFds descriptors. Receiving checks everything a peer could get wrong (short packet,
// truncation, bad magic or version, too many descriptors) and says which.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "proto/wire.h"
#include "util/expected.h"
#include "util/unique_fd.h"

namespace vgd::proto {

struct Packet {
  Header header;
  std::vector<std::byte> body;  // everything after the header
  std::vector<UniqueFd> fds;

  // The body as T (and the records after it), or nothing when it is too short.
  template <class T>
  bool read(T& out, size_t at = 0) const {
    static_assert(std::is_trivially_copyable_v<T>);
    if (at > body.size() || body.size() - at < sizeof(T)) return false;
    std::memcpy(&out, body.data() + at, sizeof(T));
    return true;
  }
  template <class T>
  void append(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const size_t at = body.size();
    body.resize(at + sizeof(T));
    std::memcpy(body.data() + at, &v, sizeof(T));
  }
};

Packet make_packet(uint16_t type, uint32_t seq, uint32_t vgpu);
Packet make_error(const Header& request, Status code, std::string_view message);
// The text of an error packet's body ("" if malformed), and its code.
std::string error_text(const Packet& p);
Status error_code(const Packet& p);

enum class RecvResult : uint8_t { Ok, Closed, WouldBlock, Malformed, Failed };

// Sends one packet; fails with errno's description. MSG_NOSIGNAL: a dead peer is an error,
// not a SIGPIPE.
Expected<size_t, std::string> send_packet(int sock, const Packet& p);  // bytes sent
// Receives one packet; on Malformed / Failed `why` says what was wrong. A Malformed packet's
// header is filled in when the packet had one (16 bytes or more), so the error reply can echo
// its seq and vGPU; an empty packet from a peer still connected is Malformed, not Closed.
RecvResult recv_packet(int sock, Packet& out, std::string& why);

}  // namespace vgd::proto
