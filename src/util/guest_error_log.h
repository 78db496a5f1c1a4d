// Counting and rate-limited logging of guest misbehaviour. A guest can trigger the same error
// millions of times a second; we count every one but log only the 1st..8th and then each
// power of two, so the log stays readable and cheap while the count stays exact.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>

namespace vgd {

constexpr bool should_log_nth(uint64_t n) { return n <= 8 || (n & (n - 1)) == 0; }

template <class... Args>
void log_guest_error(uint64_t& counter, uint32_t vgpu_id, fmt::format_string<Args...> f,
                     Args&&... args) {
  ++counter;
  if (!should_log_nth(counter)) return;
  spdlog::warn("vgpu {}: {} (occurrence {})", vgpu_id, fmt::format(f, std::forward<Args>(args)...),
               counter);
}

}  // namespace vgd
