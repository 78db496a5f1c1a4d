#include "vmguest/options.h"

#include <algorithm>
#include <charconv>

namespace vgd::vmguest {

namespace {

std::optional<uint64_t> parse_number(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<uint16_t> parse_id(std::string_view s) {
  auto v = parse_number(s);
  if (!v || *v > 0xFFFF) return std::nullopt;
  return static_cast<uint16_t>(*v);
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view s) {
  unsigned shift = 0;
  if (!s.empty()) {
    switch (s.back()) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      default: break;
    }
  }
  if (shift) s.remove_suffix(1);  // K, M and G are no hex digits: no ambiguity
  auto v = parse_number(s);
  if (!v || (shift && *v > (UINT64_MAX >> shift))) return std::nullopt;
  return *v << shift;
}

std::optional<GpaRange> parse_reservation(std::string_view s) {
  const size_t dollar = s.find('$');
  if (dollar == std::string_view::npos) return std::nullopt;
  auto size = parse_size(s.substr(0, dollar));
  auto start = parse_size(s.substr(dollar + 1));
  if (!size || !start || *size == 0 || !is_aligned(*size, kPageSize) || !is_aligned(*start, kPageSize) ||
      *size > UINT64_MAX - *start)
    return std::nullopt;
  return GpaRange{Gpa(*start), *size};
}

std::optional<GpaRange> reservation_in_cmdline(std::string_view cmdline) {
  constexpr std::string_view kKey = "memmap=";
  size_t pos = 0;
  while (pos < cmdline.size()) {
    const size_t end = std::min(cmdline.find_first_of(" \n", pos), cmdline.size());
    const std::string_view word = cmdline.substr(pos, end - pos);
    if (word.starts_with(kKey))
      if (auto r = parse_reservation(word.substr(kKey.size()))) return r;
    pos = end + 1;
  }
  return std::nullopt;
}

const char* usage() {
  return "usage: vgpu-guest [--workload desktop|console|video|modeswitch] [--frames N] [--then stop|hold]\n"
         "                  [--vendor ID] [--device ID] [--ram SIZE$START]\n"
         "                  [--ggtt-size SIZE] [--aperture-size SIZE] [--sysfs DIR] [--mem FILE]\n"
         "Drives the vGPU (PCI vendor:device, default 1af4:10f0) from inside a VM: MMIO through\n"
         "sysfs resource0, buffers in the guest-physical range SIZE$START (default: the kernel's\n"
         "memmap=SIZE$START reservation) through /dev/mem. --frames 0 runs until SIGTERM; after N\n"
         "frames it stops (display off) or, with --then hold, shows frame N until SIGTERM.\n"
         "--bench-mmio N first times N reads and N writes of a register (one trap each).\n";
}

bool parse_args(int argc, const char* const* argv, Options& out, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      continue;
    }
    if (i + 1 >= argc) {
      error = "missing value after " + std::string(arg);
      return false;
    }
    const std::string_view v = argv[++i];
    bool ok = true;
    if (arg == "--workload") {
      auto w = parse_workload(v);
      if ((ok = w.has_value())) out.workload = *w;
    } else if (arg == "--frames") {
      auto n = parse_number(v);
      if ((ok = n && *n <= UINT32_MAX)) out.frames = static_cast<uint32_t>(*n);
    } else if (arg == "--bench-mmio") {
      auto n = parse_number(v);
      if ((ok = n && *n <= UINT32_MAX)) out.bench_mmio = static_cast<uint32_t>(*n);
    } else if (arg == "--then") {
      ok = v == "stop" || v == "hold";
      out.hold = v == "hold";
    } else if (arg == "--vendor" || arg == "--device") {
      auto id = parse_id(v);
      if ((ok = id.has_value())) (arg == "--vendor" ? out.vendor : out.device) = *id;
    } else if (arg == "--ram") {
      out.ram = parse_reservation(v);
      ok = out.ram.has_value();
    } else if (arg == "--ggtt-size" || arg == "--aperture-size") {
      auto s = parse_size(v);
      if ((ok = s && *s != 0 && is_aligned(*s, kPageSize))) (arg == "--ggtt-size" ? out.ggtt_size : out.aperture_size) = *s;
    } else if (arg == "--sysfs") {
      out.sysfs = v;
    } else if (arg == "--mem") {
      out.mem = v;
    } else {
      error = "unknown option " + std::string(arg);
      return false;
    }
    if (!ok) {
      error = "bad value for " + std::string(arg) + ": " + std::string(v);
      return false;
    }
  }
  return true;
}

}  // namespace vgd::vmguest
