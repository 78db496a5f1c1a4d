// A fixed-bucket histogram of nanosecond durations, shaped like a Prometheus histogram: ascending
// upper bounds (inclusive), an implicit +Inf bucket, a count and a sum. Recording is O(buckets)
// and never allocates, so it can sit on the vblank path; a copy is a consistent snapshot.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace vgd {

class Histogram {
 public:
  // Bounds in ns, ascending and distinct (unsorted or repeated bounds are sorted and merged).
  explicit Histogram(std::initializer_list<uint64_t> bounds_ns) : bounds_(bounds_ns) { normalise(); }
  explicit Histogram(std::vector<uint64_t> bounds_ns) : bounds_(std::move(bounds_ns)) { normalise(); }

  void record(uint64_t ns) {
    const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), ns);  // first bound >= ns
    ++counts_[static_cast<size_t>(it - bounds_.begin())];
    ++count_;
    sum_ += ns;
  }

  // Finite upper bounds; bucket i counts values in (bounds[i-1], bounds[i]], the last bucket
  // (index bounds().size()) everything above.
  const std::vector<uint64_t>& bounds() const { return bounds_; }
  size_t buckets() const { return counts_.size(); }  // bounds().size() + 1
  uint64_t bucket(size_t i) const { return counts_[i]; }
  // Values <= bounds()[i] (i == bounds().size(): every value), as Prometheus' `le` buckets.
  uint64_t cumulative(size_t i) const {
    uint64_t n = 0;
    for (size_t k = 0; k <= i && k < counts_.size(); ++k) n += counts_[k];
    return n;
  }
  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }  // ns

  void reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = sum_ = 0;
  }

 private:
  void normalise() {
    std::sort(bounds_.begin(), bounds_.end());
    bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
    counts_.assign(bounds_.size() + 1, 0);
  }

  std::vector<uint64_t> bounds_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
};

// Event delivery latency: 25 µs .. 25 ms, then +Inf (a missed vblank at 60 Hz is ~16.7 ms).
inline Histogram latency_histogram() {
  return Histogram{25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000, 25'000'000};
}

// Vblank dispatch delay (deadline -> emulated), in ns: finer at the low end, where a timer
// wake-up's tens of µs are, and up to two 60 Hz periods.
inline Histogram dispatch_histogram() {
  return Histogram{5'000,   10'000,  20'000,  30'000,    40'000,    50'000,    75'000,     100'000,    150'000,
                   200'000, 300'000, 500'000, 1'000'000, 2'000'000, 5'000'000, 10'000'000, 16'667'000, 33'334'000};
}

}  // namespace vgd
