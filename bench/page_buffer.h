// A page-aligned buffer filled with a pattern, every page touched before timing: what a mapped
// plane or a dumb buffer is (malloc'd vectors start 16 bytes into a page, which favours some
// loops over others).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>

namespace vgd::bench {

struct PageBuffer {
  struct Free {
    void operator()(std::byte* q) const { std::free(q); }
  };
  std::unique_ptr<std::byte[], Free> p;
  size_t size;
  explicit PageBuffer(size_t n)
      : p(static_cast<std::byte*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096))), size(n) {
    if (!p) throw std::bad_alloc();
    for (size_t i = 0; i < n; ++i) p[i] = std::byte{static_cast<uint8_t>(i * 131 + (i >> 12))};
  }
  std::byte* data() const { return p.get(); }
  std::span<const std::byte> span() const { return {p.get(), size}; }
  std::span<std::byte> writable() const { return {p.get(), size}; }
};

}  // namespace vgd::bench
