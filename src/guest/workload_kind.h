// The workloads a guest can run, by name, for configuration files and command lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace vgd {

enum class Workload : uint8_t { Desktop, Console, Video, ModeSwitch };
inline constexpr Workload kWorkloads[] = {Workload::Desktop, Workload::Console, Workload::Video, Workload::ModeSwitch};

constexpr std::string_view name(Workload w) {
  switch (w) {
    case Workload::Desktop: return "desktop";
    case Workload::Console: return "console";
    case Workload::Video: return "video";
    case Workload::ModeSwitch: return "modeswitch";
  }
  return "?";
}

constexpr std::optional<Workload> parse_workload(std::string_view s) {
  for (Workload w : kWorkloads)
    if (name(w) == s) return w;
  return std::nullopt;
}

}  // namespace vgd
