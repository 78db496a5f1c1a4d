// vgpu-view --stats: one table row per event with the time each stage took after the event
// was delivered (query the planes → map their buffers → compose), and a summary at the end.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"

namespace vgd::view {

struct Sample {
  client::EventCounts events;
  std::optional<uint64_t> delivery_us;  // the vblank the event reports → this viewer woke up
  uint64_t query_us = 0;                // event delivered → every plane queried
  uint64_t map_us = 0;                  // → their buffers mapped (cache hits are ~free)
  std::optional<uint64_t> compose_us;   // → composed (when it was)
  uint64_t hits = 0, misses = 0;        // buffer cache, this event
  std::string note;                     // plane problems, "png written", ...
};

class StatsTable {
 public:
  explicit StatsTable(std::FILE* out) : out_(out) {}
  void row(const Sample& s);
  void summary(const client::SessionCounters& c) const;

 private:
  std::FILE* out_;
  uint64_t rows_ = 0;
  client::EventCounts totals_;
  std::vector<uint64_t> delivery_, query_, map_, compose_, total_;
};

}  // namespace vgd::view
