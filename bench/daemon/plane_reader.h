// daemon_bench untrusted's consumer, the same code for the trusted one (in this process) and the
// untrusted one (another process, forked before the daemon starts: untrusted.cpp): on each
// refresh event, QueryPlane primary → GetBuffer + map on a new id → memcpy of the whole plane
// into a private buffer, timed per step; and its samples' trip back over a pipe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vgd::daemon_bench {

struct PlaneSamples {
  std::vector<int64_t> total, query, fetch, read;  // ns per wake; fetch only on the wakes that got a new id
  uint64_t wakes = 0, fetches = 0, refused = 0;
  uint64_t bytes = 0;   // the plane's size
  int64_t cpu_ns = 0;   // the reading thread's CPU while recording
};

// Reads vGPU `vgpu`'s primary at every event for `warmup` s, then records for `seconds` s;
// `started` is called when recording begins.
PlaneSamples read_planes(const std::string& path, uint32_t vgpu, double warmup, double seconds,
                         const std::function<void()>& started);

void send_samples(int fd, const PlaneSamples& s);
bool recv_samples(int fd, PlaneSamples& s);  // false: the sender died first
bool write_all(int fd, const void* p, size_t n);
bool read_all(int fd, void* p, size_t n);

}  // namespace vgd::daemon_bench
