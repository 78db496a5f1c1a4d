#include "stats.h"

#include <fmt/format.h>

#include <algorithm>

namespace vgd::view {
namespace {

constexpr int kHeaderEvery = 30;  // rows between repeated headers, so a scrolling table stays readable

void header(std::FILE* out) {
  fmt::print(out, "{:>6} {:>4} {:>4} {:>4} {:>4} | {:>8} {:>8} {:>8} {:>8} {:>8} | {:>4} {:>4}  {}\n", "event", "pri",
             "spr", "cur", "off", "vblank→", "query", "map", "compose", "total", "hit", "miss", "note");
  fmt::print(out, "{:>6} {:>4} {:>4} {:>4} {:>4} | {:>8} {:>8} {:>8} {:>8} {:>8} | {:>4} {:>4}\n", "", "", "", "", "",
             "woken µs", "µs", "µs", "µs", "µs", "", "");
}

struct Percentiles {
  uint64_t p50 = 0, p99 = 0, max = 0;
};

Percentiles percentiles(std::vector<uint64_t> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) { return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)]; };
  return {at(0.50), at(0.99), v.back()};
}

}  // namespace

void StatsTable::row(const Sample& s) {
  if (rows_ % kHeaderEvery == 0) header(out_);
  ++rows_;
  totals_.primary += s.events.primary;
  totals_.sprite += s.events.sprite;
  totals_.cursor += s.events.cursor;
  totals_.display_off += s.events.display_off;
  const uint64_t total = s.query_us + s.map_us + s.compose_us.value_or(0);
  query_.push_back(s.query_us);
  map_.push_back(s.map_us);
  if (s.compose_us) compose_.push_back(*s.compose_us);
  if (s.delivery_us) delivery_.push_back(*s.delivery_us);
  total_.push_back(total);
  fmt::print(out_, "{:>6} {:>4} {:>4} {:>4} {:>4} | {:>8} {:>8} {:>8} {:>8} {:>8} | {:>4} {:>4}  {}\n", rows_,
             s.events.primary, s.events.sprite, s.events.cursor, s.events.display_off,
             s.delivery_us ? fmt::format("{}", *s.delivery_us) : std::string("-"), s.query_us, s.map_us,
             s.compose_us ? fmt::format("{}", *s.compose_us) : std::string("-"), total, s.hits, s.misses, s.note);
  std::fflush(out_);
}

void StatsTable::summary(const client::SessionCounters& c) const {
  fmt::print(out_, "\n{} event wakeups: {} primary, {} sprite, {} cursor, {} display-off events\n", rows_,
             totals_.primary, totals_.sprite, totals_.cursor, totals_.display_off);
  fmt::print(out_, "buffer cache: {} hits, {} misses, {} releases\n", c.cache_hits, c.cache_misses, c.releases);
  if (rows_ == 0) return;
  fmt::print(out_, "{:>8} {:>8} {:>8} {:>8}   (µs; vblank→woken, then after the event was delivered)\n", "stage",
             "p50", "p99", "max");
  const auto line = [&](const char* name, const std::vector<uint64_t>& v) {
    if (v.empty()) return;
    const Percentiles p = percentiles(v);
    fmt::print(out_, "{:>8} {:>8} {:>8} {:>8}\n", name, p.p50, p.p99, p.max);
  };
  line("vblank→", delivery_);
  line("query", query_);
  line("map", map_);
  line("compose", compose_);
  line("total", total_);
}

}  // namespace vgd::view
