#include "vmguest/pci.h"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace vgd::vmguest {

namespace {

std::optional<std::string> read_text(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return std::nullopt;
  std::string text;
  char buf[512];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return text;
}

std::optional<uint64_t> read_hex(const std::string& path) {
  auto t = read_text(path);
  if (!t) return std::nullopt;
  char* end = nullptr;
  const uint64_t v = std::strtoull(t->c_str(), &end, 16);
  if (end == t->c_str()) return std::nullopt;
  return v;
}

}  // namespace

std::array<uint64_t, 6> parse_resource_file(std::string_view text) {
  std::array<uint64_t, 6> sizes{};
  const std::string s(text);
  const char* p = s.c_str();
  for (size_t bar = 0; bar < sizes.size() && *p; ++bar) {
    char* end = nullptr;
    const uint64_t start = std::strtoull(p, &end, 16);
    const uint64_t last = std::strtoull(end, &end, 16);
    if (last > start) sizes[bar] = last - start + 1;  // an absent BAR reads 0 0 0
    p = std::strchr(end, '\n');
    if (!p) break;
    ++p;
  }
  return sizes;
}

std::optional<PciDevice> find_pci_device(const std::string& sysfs_dir, uint16_t vendor, uint16_t device) {
  DIR* d = ::opendir(sysfs_dir.c_str());
  if (!d) return std::nullopt;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string path = sysfs_dir + "/" + name;
    if (read_hex(path + "/vendor") != vendor || read_hex(path + "/device") != device) continue;
    PciDevice dev{path, {}};
    if (auto res = read_text(path + "/resource")) dev.bar_size = parse_resource_file(*res);
    return dev;
  }
  return std::nullopt;
}

}  // namespace vgd::vmguest
