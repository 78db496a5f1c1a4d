// vgpu-kmstest's output lines (docs/vm.md, "vgpu-kmstest"), read back by the host tests from the
// serial console: `kmstest: step <name> key=value ...`, `kmstest: bench-flips key=value ...` and
// `kmstest: failed at <step>: <reason>`. Pure, shared by the program and the tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vgd::kmstest {

inline constexpr std::string_view kLinePrefix = "kmstest: ";

struct ReportLine {
  std::string kind;  // "step" or "bench-flips"
  std::string name;  // the step's name; empty for bench-flips
  std::map<std::string, std::string, std::less<>> fields;

  std::optional<std::string_view> get(std::string_view key) const {
    const auto it = fields.find(key);
    if (it == fields.end()) return std::nullopt;
    return it->second;
  }
};

// One line (without its newline; a trailing '\r' from a serial console is ignored) into its
// parts, or nullopt for any other line (the kernel's, a failure, a malformed field).
inline std::optional<ReportLine> parse_report_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.substr(0, kLinePrefix.size()) != kLinePrefix) return std::nullopt;
  line.remove_prefix(kLinePrefix.size());
  std::vector<std::string_view> words;
  while (!line.empty()) {
    const size_t space = std::min(line.find(' '), line.size());
    if (space > 0) words.push_back(line.substr(0, space));
    line.remove_prefix(std::min(space + 1, line.size()));
  }
  ReportLine out;
  size_t first_field = 1;
  if (words.empty()) return std::nullopt;
  out.kind = words[0];
  if (out.kind == "step") {
    if (words.size() < 2 || words[1].find('=') != std::string_view::npos) return std::nullopt;
    out.name = words[1];
    first_field = 2;
  } else if (out.kind != "bench-flips") {
    return std::nullopt;
  }
  for (size_t i = first_field; i < words.size(); ++i) {
    const size_t eq = words[i].find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    out.fields.emplace(std::string(words[i].substr(0, eq)), std::string(words[i].substr(eq + 1)));
  }
  return out;
}

// The nearest-rank percentile (pct in 1..100) of samples; 0 when there are none.
inline uint64_t percentile(std::vector<uint64_t> samples, unsigned pct) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const size_t rank = (samples.size() * pct + 99) / 100;  // ceil(n * pct / 100), >= 1
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

}  // namespace vgd::kmstest
