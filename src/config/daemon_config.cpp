#include "config/daemon_config.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <vector>

#include "config/host_display_config.h"
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

// getpwnam_r / getgrnam_r with a buffer that grows while the entry does not fit (ERANGE).
template <class Entry, auto Lookup, auto Field, int SizeHint>
std::optional<uint32_t> id_named(const std::string& name) {
  const long hint = ::sysconf(SizeHint);
  std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 4096);
  for (;;) {
    Entry e{}, *found = nullptr;
    const int rc = Lookup(name.c_str(), &e, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0 || !found) return std::nullopt;
    return static_cast<uint32_t>(e.*Field);
  }
}
constexpr auto uid_named = id_named<passwd, ::getpwnam_r, &passwd::pw_uid, _SC_GETPW_R_SIZE_MAX>;
constexpr auto gid_named = id_named<group, ::getgrnam_r, &group::gr_gid, _SC_GETGR_R_SIZE_MAX>;

// docs/config.md "Consumers".
bool access_from(TableReader& r, ConsumerAccess& a) {
  std::optional<std::vector<uint32_t>> trusted_uids, trusted_gids;
  if (!r.ids("allow_uids", "user", uid_named, a.allow_uids) || !r.ids("allow_gids", "group", gid_named, a.allow_gids) ||
      !r.ids("trusted_uids", "user", uid_named, trusted_uids) || !r.ids("trusted_gids", "group", gid_named, trusted_gids))
    return false;
  a.trusted_uids = trusted_uids.value_or(std::vector<uint32_t>{});
  a.trusted_gids = trusted_gids.value_or(std::vector<uint32_t>{});
  return true;
}

Expected<VgpuSpec, std::string> vgpu_from(const toml::table& t, std::string_view source, const GpuConfig& gpu) {
  VgpuSpec v;
  std::string guest = "builtin", workload(name(v.workload)), mode = "1024x768@60", tearing(name(v.tearing));
  uint64_t ram_mib = v.ram >> 20, copy_budget_mib = 0;
  TableReader r(t, source, "vgpu.");
  r.allow("direct_flip");
  if (!r.str("type", v.type) || !r.str("guest", guest) || !r.str("workload", workload) || !r.str("mode", mode) ||
      !r.u64("ram_mib", ram_mib) || !r.str("tearing", tearing) || !r.u64("copy_budget_mib", copy_budget_mib) ||
      !r.boolean("damage_hints", v.damage_hints) || !r.u32("hold_frame", v.hold_frame) || !access_from(r, v.access) ||
      !r.no_unknown_keys())
    return Unexpected(r.error);
  const auto at = [&](std::string_view key) { return where(source, t.get(key) ? t.get(key)->source() : t.source()); };
  const auto type = std::find_if(gpu.types.begin(), gpu.types.end(), [&](const VgpuType& vt) { return vt.name == v.type; });
  if (type == gpu.types.end()) return Unexpected(fmt::format("{}: vgpu.type {} is not a known vGPU type", at("type"), v.type));
  if (guest != "builtin" && guest != "qemu")
    return Unexpected(fmt::format("{}: vgpu.guest must be builtin or qemu", at("guest")));
  v.guest = guest == "qemu" ? GuestKind::Qemu : GuestKind::Builtin;
  // A VM brings its own RAM and runs its own programs: these keys would be silently ignored.
  for (std::string_view key : {"workload", "mode", "ram_mib", "hold_frame"})
    if (v.vm() && t.get(key))
      return Unexpected(fmt::format("{}: vgpu.{} applies only to guest = \"builtin\" (a QEMU VM brings its own)", at(key), key));
  const auto w = parse_workload(workload);
  if (!w) return Unexpected(fmt::format("{}: vgpu.workload must be desktop, console, video or modeswitch", at("workload")));
  v.workload = *w;
  if (!parse_mode(mode, v.mode))
    return Unexpected(fmt::format("{}: vgpu.mode must be 1024x768@60, 1024x768@75, 1920x1080@60 or 1920x1080@59.94",
                                  at("mode")));
  // The display engine would keep a larger mode's pipe off (docs/design.md "Display"): say so now.
  // A mode switch goes to 1920x1080.
  const bool switches = v.workload == Workload::ModeSwitch;
  const guest::Mode& widest = switches ? guest::kMode1920x1080at60 : v.mode;
  const std::string_view key = switches ? "workload" : "mode";
  if (widest.width > type->max_width || widest.height > type->max_height)
    return Unexpected(fmt::format("{}: vgpu.{} needs {}x{}, beyond type {}'s maximum resolution {}x{}", at(key), key,
                                  widest.width, widest.height, type->name, type->max_width, type->max_height));
  if (ram_mib < 32 || ram_mib > 65536) return Unexpected(fmt::format("{}: vgpu.ram_mib must be 32..65536", at("ram_mib")));
  v.ram = ram_mib << 20;
  constexpr TearingMode kTearing[] = {TearingMode::None, TearingMode::Hold, TearingMode::Copy};
  const auto* tm = std::find_if(std::begin(kTearing), std::end(kTearing), [&](TearingMode m) { return name(m) == tearing; });
  if (tm == std::end(kTearing)) return Unexpected(fmt::format("{}: vgpu.tearing must be none, hold or copy", at("tearing")));
  v.tearing = *tm;
  if (t.get("copy_budget_mib") && v.tearing != TearingMode::Copy)
    return Unexpected(fmt::format("{}: vgpu.copy_budget_mib applies only to tearing = \"copy\"", at("copy_budget_mib")));
  if (t.get("copy_budget_mib") && (copy_budget_mib < 1 || copy_budget_mib > 65536))
    return Unexpected(fmt::format("{}: vgpu.copy_budget_mib must be 1..65536", at("copy_budget_mib")));
  v.copy_budget = copy_budget_mib << 20;
  if (const toml::node* d = t.get("direct_flip")) {
    auto df = direct_flip_from(*d, source);
    if (!df) return Unexpected(df.error());
    v.direct_flip = std::move(*df);
  }
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
  top.allow("vnc");
  top.allow("web");
  top.allow("host_display");
  if (!top.no_unknown_keys()) return Unexpected(top.error);
  DaemonConfig cfg;
  auto gpu = gpu_config_from(*root, source);
  if (!gpu) return Unexpected(gpu.error());
  cfg.gpu = std::move(*gpu);
  // Each optional section is a table read by `read` (false: r.error says why).
  std::string err;
  const auto section = [&](std::string_view key, auto&& read) {
    const toml::node* n = root->get(key);
    if (!n) return true;
    const toml::table* t = n->as_table();
    if (!t) {
      err = fmt::format("{}: {} must be a table", where(source, n->source()), key);
      return false;
    }
    TableReader r(*t, source, fmt::format("{}.", key));
    if (!read(r) || !r.no_unknown_keys()) {
      if (err.empty()) err = r.error;
      return false;
    }
    return true;
  };
  const auto at = [&](std::string_view sect, std::string_view key) {
    const toml::node* n = (*root)[sect][key].node();
    return where(source, n ? n->source() : root->source());
  };
  // A secret next to auth = "none" would be silently ignored: say so instead.
  const auto secret_ok = [&](std::string_view sect, std::string_view key, bool auth, const std::string& v,
                             std::string_view off) {
    if (auth || v.empty()) return true;
    err = fmt::format("{}: {}.{} has no use with {}", at(sect, key), sect, key, off);
    return false;
  };
  const auto port_ok = [&](std::string_view sect, std::string_view key, uint32_t port, uint32_t max) {
    if (port <= max) return true;
    err = fmt::format("{}: {}.{} must be 0..{}", at(sect, key), sect, key, max);
    return false;
  };
  const bool ok =
      section("server", [&](TableReader& r) {
        return r.str("socket", cfg.socket) && r.u32("max_clients", cfg.max_clients) &&
               r.u32("hello_timeout_ms", cfg.hello_timeout_ms) && r.u32("max_clients_per_uid", cfg.max_clients_per_uid) &&
               r.id("socket_group", "group", gid_named, cfg.socket_group);
      }) &&
      section("export", [&](TableReader& r) {
        if (!r.u32("idle_buffers", cfg.idle_buffers) || !r.boolean("udmabuf", cfg.udmabuf)) return false;
        if (cfg.idle_buffers != 0 && cfg.idle_buffers <= 1024) return true;
        err = fmt::format("{}: export.idle_buffers must be 1..1024", at("export", "idle_buffers"));
        return false;
      }) &&
      section("vnc", [&](TableReader& r) {
        VncConfig& v = cfg.vnc;
        if (!r.boolean("enabled", v.enabled) || !r.str("listen", v.listen) || !r.u32("base_port", v.base_port) ||
            !r.choice("auth", "password", "none", v.auth) || !r.str("password", v.password) ||
            !port_ok("vnc", "base_port", v.base_port, 65535 - 255))  // + a vGPU id
          return false;
        return secret_ok("vnc", "password", v.auth, v.password, "auth = \"none\"");
      }) &&
      section("web", [&](TableReader& r) {
        WebConfig& w = cfg.web;
        if (!r.boolean("enabled", w.enabled) || !r.str("listen", w.listen) || !r.u32("port", w.port) ||
            !r.choice("auth", "token", "none", w.auth) || !r.str("token", w.token) ||
            !r.str_list("allowed_hosts", w.allowed_hosts) || !r.choice("metrics_auth", "token", "none", w.metrics_auth) ||
            !port_ok("web", "port", w.port, 65535))
          return false;
        if (!w.auth) w.metrics_auth = false;  // nothing to show
        return secret_ok("web", "token", w.auth, w.token, "auth = \"none\"");
      });
  if (!ok) return Unexpected(err);
  auto hd = host_display_from(*root, source);
  if (!hd) return Unexpected(hd.error());
  cfg.host_display = std::move(*hd);
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
  if (auto checked = check_direct_flip(cfg, *root, source); !checked) return Unexpected(checked.error());
  return cfg;
}

Expected<DaemonConfig, std::string> load_daemon_config(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return Unexpected(text.error());
  return parse_daemon_config(*text, path);
}

}  // namespace vgd
