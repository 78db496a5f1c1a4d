#include "qemu_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace vgd::ctl {

std::optional<uint64_t> parse_qemu_memory(const std::string& value) {
  std::string v = value;
  if (v.rfind("size=", 0) == 0) v = v.substr(5);
  v = v.substr(0, v.find(','));
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || n == 0) return std::nullopt;
  const std::string suffix(end, static_cast<const char*>(v.data() + v.size()));
  uint64_t shift = 20;  // no suffix: MiB
  if (suffix.size() > 1) return std::nullopt;
  if (!suffix.empty()) {
    switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: return std::nullopt;
    }
  }
  if (n > (UINT64_MAX >> shift)) return std::nullopt;
  return n << shift;
}

Expected<std::vector<std::string>, std::string> qemu_command(std::vector<std::string> cmd, int fd, uint32_t vgpu) {
  if (cmd.empty()) return Unexpected(std::string("no QEMU command after --"));
  uint64_t ram = 128ull << 20;  // QEMU's default
  bool backend = false;
  for (size_t i = 0; i < cmd.size(); ++i) {
    if (cmd[i].find("memory-backend=") != std::string::npos) backend = true;
    if ((cmd[i] == "-m" || cmd[i] == "--m") && i + 1 < cmd.size()) {
      const auto m = parse_qemu_memory(cmd[i + 1]);
      if (!m) return Unexpected(fmt::format("cannot read the memory size '-m {}'", cmd[i + 1]));
      ram = *m;
    }
  }
  if (!backend) {
    cmd.insert(cmd.end(), {"-object", fmt::format("memory-backend-memfd,id=vgpu-ram,size={},share=on", ram), "-machine",
                           "memory-backend=vgpu-ram"});
  }
  cmd.push_back("-device");
  cmd.push_back(fmt::format("x-pci-proxy-dev,id=vgpu{},fd={}", vgpu, fd));
  return cmd;
}

}  // namespace vgd::ctl
