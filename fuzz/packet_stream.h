// What the protocol fuzzers (server_fuzz, client_fuzz) share: their input is a stream of
// packets with descriptors attached, one side of a vgpud control connection (docs/protocol.md
// §10). Each packet, little-endian, missing bytes read as 0:
//
//   u8 control   bits 0-2: descriptors attached (0-7; more than 4 is malformed, §1)
//                bit 3: shaped: the harness writes a well-formed header (magic, version, its seq)
//                       from `type` and `vgpu` below and the bytes are the body; else the bytes
//                       are the whole packet, header or not
//                bit 4: more: the next packet goes out before this one is answered
//                bit 5: oversize: zeros pad the packet past 64 KiB (kMaxPacket)
//   u8 × n       each descriptor's kind (FdKind, modulo their count)
//   shaped only: u16 type, u8 vgpu
//   u16 length, then that many bytes
//
// The descriptors are made fresh for each packet and closed once sent: whatever the other end
// does with them, nothing of the harness's stays open.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "proto/wire.h"
#include "util/unique_fd.h"

namespace vgd::fuzz {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), left_(size) {}
  bool empty() const { return left_ == 0; }
  uint8_t u8() {
    if (left_ == 0) return 0;
    --left_;
    return *p_++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | u8() << 8); }
  // Up to n bytes (fewer when the input ends).
  std::vector<std::byte> bytes(size_t n) {
    n = n < left_ ? n : left_;
    std::vector<std::byte> out(n);
    if (n > 0) std::memcpy(out.data(), p_, n);
    p_ += n, left_ -= n;
    return out;
  }

 private:
  const uint8_t* p_;
  size_t left_;
};

enum class FdKind : uint8_t { Eventfd, Memfd, SealedMemfd, EmptyMemfd, PipeEnd, DevNull, Socket, Count };

// A 64 KiB memfd whose words hold their own offsets; sealed against shrinking like the RAM the
// daemon hands out (docs/protocol.md §7), or not.
inline UniqueFd numbered_memfd(size_t bytes, bool sealed) {
  UniqueFd fd(::memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  CHECK(fd.valid());
  std::vector<uint32_t> words(bytes / 4);
  for (size_t i = 0; i < words.size(); ++i) words[i] = static_cast<uint32_t>(i * 4);
  CHECK(::write(fd.get(), words.data(), bytes) == static_cast<ssize_t>(bytes));
  if (sealed) CHECK(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0);
  return fd;
}

inline UniqueFd make_fd(FdKind kind) {
  switch (kind) {
    case FdKind::Eventfd: return UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    case FdKind::Memfd: return numbered_memfd(64 * 1024, false);
    case FdKind::SealedMemfd: return numbered_memfd(64 * 1024, true);
    case FdKind::EmptyMemfd: return UniqueFd(::memfd_create("fuzz-empty", MFD_CLOEXEC));
    case FdKind::PipeEnd: {
      int p[2];
      CHECK(::pipe2(p, O_CLOEXEC) == 0);
      ::close(p[1]);
      return UniqueFd(p[0]);
    }
    case FdKind::DevNull: return UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    case FdKind::Socket: {
      int sv[2];
      CHECK(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
      ::close(sv[1]);
      return UniqueFd(sv[0]);
    }
    case FdKind::Count: break;
  }
  return {};
}

struct StreamPacket {
  bool shaped = false, more = false;
  uint16_t type = 0;  // shaped only
  uint32_t vgpu = 0;  // shaped only
  std::vector<std::byte> bytes;  // the body when shaped, else the whole packet
  std::vector<UniqueFd> fds;

  // The packet as sent, with `seq` in a shaped header.
  std::vector<std::byte> wire(uint32_t seq) const {
    if (!shaped) return bytes;
    proto::Header h;
    h.type = type, h.seq = seq, h.vgpu = vgpu;
    std::vector<std::byte> out(sizeof h);
    std::memcpy(out.data(), &h, sizeof h);
    out.insert(out.end(), bytes.begin(), bytes.end());
    return out;
  }
};

inline constexpr uint8_t kFdCountMask = 7, kShaped = 1 << 3, kMore = 1 << 4, kOversize = 1 << 5;

inline StreamPacket next_packet(ByteReader& in) {
  StreamPacket p;
  const uint8_t control = in.u8();
  p.shaped = control & kShaped;
  p.more = control & kMore;
  for (int i = 0; i < (control & kFdCountMask); ++i) {
    UniqueFd fd = make_fd(static_cast<FdKind>(in.u8() % static_cast<uint8_t>(FdKind::Count)));
    CHECK(fd.valid());
    p.fds.push_back(std::move(fd));
  }
  if (p.shaped) {
    p.type = in.u16();
    p.vgpu = in.u8();
  }
  p.bytes = in.bytes(in.u16());
  if (control & kOversize) p.bytes.resize(proto::kMaxPacket + 1 + p.bytes.size());
  return p;
}

// What a descriptor is, without its number and inode ("pipe", "anon_inode:[eventfd]",
// "/memfd:vgpu-shadow (deleted)"): an object replaced by one of its kind (a VM's leftover link by
// the next one's) is not a leak.
inline std::string fd_kind(const std::string& link) {
  if (link.starts_with("pipe:") || link.starts_with("socket:")) return link.substr(0, link.find(':'));
  return link;
}

// The descriptors open in this process, by kind: a harness compares them before and after an
// input.
inline std::map<std::string, int> open_fds() {
  std::map<std::string, int> kinds;
  DIR* d = ::opendir("/proc/self/fd");
  CHECK(d != nullptr);
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' || std::atoi(e->d_name) == ::dirfd(d)) continue;
    char link[256] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    (void)!::readlink(path.c_str(), link, sizeof link - 1);
    ++kinds[fd_kind(link)];
  }
  ::closedir(d);
  return kinds;
}

// Fails the input when descriptors were opened (or closed) since `before`, saying which kinds.
inline void check_fds(const std::map<std::string, int>& before, const char* who) {
  auto after = open_fds();
  if (after == before) return;
  for (const auto& [kind, n] : before) after[kind] -= n;
  for (const auto& [kind, n] : after)
    if (n != 0) std::fprintf(stderr, "  %+d %s\n", n, kind.c_str());
  std::fprintf(stderr, "%s: descriptors changed during the input\n", who);
  std::abort();
}

}  // namespace vgd::fuzz
