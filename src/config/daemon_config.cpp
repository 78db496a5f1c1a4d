#include "config/daemon_config.h"

#include <algorithm>
#include <cstdlib>

#include "config/toml_reader.h"

namespace vgd {
namespace {

struct NamedMode {
  std::string_view name;
  guest::Mode mode;
};
constexpr NamedMode kModes[] = {{"1024x768@60", guest::kMode1024x768at60},
                                {"1024x768@75", guest::kMode1024x768at75},
                                {"1920x1080@60", guest::kMode1920x1080at60},
                                {"1920x1080@59.94", guest::kMode1920x1080at5994}};

Expected<VgpuSpec, std::string> vgpu_from(const toml::table& t, std::string_view source, const GpuConfig& gpu) {
  VgpuSpec v;
  std::string workload(name(v.workload)), mode = "1024x768@60", tearing(name(v.tearing));
  uint64_t ram_mib = v.ram >> 20;
  TableReader r(t, source, "vgpu.");
  if (!r.str("type", v.type) || !r.str("workload", workload) || !r.str("mode", mode) || !r.u64("ram_mib", ram_mib) ||
      !r.str("tearing", tearing) || !r.no_unknown_keys())
    return Unexpected(r.error);
  const auto at = [&](std::string_view key) { return where(source, t.get(key) ? t.get(key)->source() : t.source()); };
  const bool known = std::any_of(gpu.types.begin(), gpu.types.end(), [&](const VgpuType& vt) { return vt.name == v.type; });
  if (!known) return Unexpected(fmt::format("{}: vgpu.type {} is not a known vGPU type", at("type"), v.type));
  const auto w = parse_workload(workload);
  if (!w) return Unexpected(fmt::format("{}: vgpu.workload must be desktop, console, video or modeswitch", at("workload")));
  v.workload = *w;
  if (!parse_mode(mode, v.mode))
    return Unexpected(fmt::format("{}: vgpu.mode must be 1024x768@60, 1024x768@75, 1920x1080@60 or 1920x1080@59.94",
                                  at("mode")));
  if (ram_mib < 32 || ram_mib > 65536) return Unexpected(fmt::format("{}: vgpu.ram_mib must be 32..65536", at("ram_mib")));
  v.ram = ram_mib << 20;
  constexpr TearingMode kTearing[] = {TearingMode::None, TearingMode::Hold, TearingMode::Copy};
  const auto* tm = std::find_if(std::begin(kTearing), std::end(kTearing), [&](TearingMode m) { return name(m) == tearing; });
  if (tm == std::end(kTearing)) return Unexpected(fmt::format("{}: vgpu.tearing must be none, hold or copy", at("tearing")));
  v.tearing = *tm;
  return v;
}

}  // namespace

bool parse_mode(std::string_view s, guest::Mode& out) {
  for (const NamedMode& m : kModes)
    if (m.name == s) {
      out = m.mode;
      return true;
    }
  return false;
}

Expected<DaemonConfig, std::string> parse_daemon_config(std::string_view text, std::string_view source) {
  auto root = parse_toml(text, source);
  if (!root) return Unexpected(root.error());
  TableReader top(*root, source, "");
  top.allow("gpu");
  top.allow("type");
  top.allow("vgpu");
  top.allow("server");
  top.allow("export");
  if (!top.no_unknown_keys()) return Unexpected(top.error);
  DaemonConfig cfg;
  auto gpu = gpu_config_from(*root, source);
  if (!gpu) return Unexpected(gpu.error());
  cfg.gpu = std::move(*gpu);
  if (const toml::table* server = (*root)["server"].as_table()) {
    TableReader r(*server, source, "server.");
    if (!r.str("socket", cfg.socket) || !r.u32("max_clients", cfg.max_clients) || !r.no_unknown_keys())
      return Unexpected(r.error);
  } else if (root->contains("server")) {
    return Unexpected(fmt::format("{}: server must be a table", where(source, root->get("server")->source())));
  }
  if (const toml::table* ex = (*root)["export"].as_table()) {
    TableReader r(*ex, source, "export.");
    if (!r.u32("idle_buffers", cfg.idle_buffers) || !r.boolean("udmabuf", cfg.udmabuf) || !r.no_unknown_keys())
      return Unexpected(r.error);
    if (cfg.idle_buffers == 0 || cfg.idle_buffers > 1024)
      return Unexpected(fmt::format("{}: export.idle_buffers must be 1..1024", where(source, ex->get("idle_buffers")->source())));
  } else if (root->contains("export")) {
    return Unexpected(fmt::format("{}: export must be a table", where(source, root->get("export")->source())));
  }
  if (const toml::node* list = root->get("vgpu")) {
    const toml::array* arr = list->as_array();
    if (!arr) return Unexpected(fmt::format("{}: vgpu must be an array of tables ([[vgpu]])", where(source, list->source())));
    cfg.vgpus.clear();
    for (const toml::node& n : *arr) {
      const toml::table* t = n.as_table();
      if (!t) return Unexpected(fmt::format("{}: each vgpu must be a table", where(source, n.source())));
      auto v = vgpu_from(*t, source, cfg.gpu);
      if (!v) return Unexpected(v.error());
      cfg.vgpus.push_back(std::move(*v));
    }
  }
  return cfg;
}

Expected<DaemonConfig, std::string> load_daemon_config(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return Unexpected(text.error());
  return parse_daemon_config(*text, path);
}

}  // namespace vgd
