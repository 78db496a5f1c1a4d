// Credentials the daemon makes up at start (docs/viewers.md, "Access"): random from the kernel
// (getrandom), and compared in constant time.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vgd {

// `bytes` random bytes as lower-case hex (2 × bytes characters).
std::string random_hex(size_t bytes);
// `n` random characters from letters and digits without look-alikes (0/O, 1/l/I): one that a
// person can read off a terminal and type.
std::string random_password(size_t n);
// a == b, in a time that depends on the lengths only (not on where they first differ).
bool secret_equal(std::string_view a, std::string_view b);

}  // namespace vgd
