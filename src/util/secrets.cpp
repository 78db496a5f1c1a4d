#include "util/secrets.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace vgd {
namespace {

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> out(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::getrandom(out.data() + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    // getrandom fails only without kernel support (before Linux 3.17): nothing to fall back on.
    if (r < 0) throw std::runtime_error("getrandom failed");
    got += static_cast<size_t>(r);
  }
  return out;
}

}  // namespace

std::string random_hex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : random_bytes(bytes)) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::string random_password(size_t n) {
  static constexpr std::string_view kAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  // Rejection sampling: bytes past the last whole multiple of the alphabet's size would favour
  // its first letters.
  constexpr unsigned kLimit = 256 - 256 % kAlphabet.size();
  std::string s;
  while (s.size() < n)
    for (uint8_t b : random_bytes(n))
      if (b < kLimit && s.size() < n) s += kAlphabet[b % kAlphabet.size()];
  return s;
}

bool secret_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // volatile: the compiler must not turn the loop into an early-exit memcmp.
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace vgd
