#include "config/gpu_config.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include "config/toml_reader.h"

namespace vgd {
namespace {

// "WIDTHxHEIGHT", both positive, nothing else.
bool parse_resolution(std::string_view s, uint32_t& w, uint32_t& h) {
  const size_t x = s.find('x');
  if (x == std::string_view::npos) return false;
  auto number = [](std::string_view part, uint32_t& out) {
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
    return ec == std::errc() && end == part.data() + part.size() && out > 0;
  };
  return number(s.substr(0, x), w) && number(s.substr(x + 1), h);
}

}  // namespace

Expected<GpuConfig, std::string> parse_gpu_config(std::string_view text, std::string_view source) {
  auto root = parse_toml(text, source);
  if (!root) return Unexpected(root.error());
  TableReader top(*root, source, "");
  top.allow("gpu");  // read below
  top.allow("type");
  if (!top.no_unknown_keys()) return Unexpected(top.error);
  return gpu_config_from(*root, source);
}

Expected<GpuConfig, std::string> gpu_config_from(const toml::table& root, std::string_view source) {
  GpuConfig cfg;
  GpuGeometry& g = cfg.geometry;
  bool standard = true;

  if (const toml::table* gpu = root["gpu"].as_table()) {
    TableReader r(*gpu, source, "gpu.");
    if (!r.u64("ggtt_mib", g.ggtt_size, kMiB) || !r.u64("aperture_mib", g.aperture_size, kMiB) ||
        !r.u32("fences", g.fence_count) || !r.u64("host_low_gm_mib", g.host.low_gm, kMiB) ||
        !r.u64("host_high_gm_mib", g.host.high_gm, kMiB) || !r.u32("host_fences", g.host.fences) ||
        !r.boolean("standard_types", standard) || !r.no_unknown_keys())
      return Unexpected(r.error);
  } else if (root.contains("gpu")) {
    return Unexpected(fmt::format("{}: gpu must be a table", where(source, root["gpu"].node()->source())));
  }
  if (!standard) cfg.types.clear();

  if (const toml::node* types = root.get("type")) {
    const toml::array* arr = types->as_array();
    if (!arr) return Unexpected(fmt::format("{}: type must be an array of tables ([[type]])", where(source, types->source())));
    for (const toml::node& n : *arr) {
      const toml::table* t = n.as_table();
      if (!t) return Unexpected(fmt::format("{}: each type must be a table", where(source, n.source())));
      VgpuType vt;
      std::string res;
      TableReader r(*t, source, "type.");
      if (!r.str("name", vt.name) || !r.u64("low_gm_mib", vt.resources.low_gm, kMiB) ||
          !r.u64("high_gm_mib", vt.resources.high_gm, kMiB) || !r.u32("fences", vt.resources.fences) ||
          !r.u32("weight", vt.weight) || !r.str("max_resolution", res) || !r.no_unknown_keys())
        return Unexpected(r.error);
      if (!res.empty() && !parse_resolution(res, vt.max_width, vt.max_height))
        return Unexpected(fmt::format("{}: type.max_resolution must look like 1920x1080",
                                      where(source, t->get("max_resolution")->source())));
      for (const VgpuType& other : cfg.types)
        if (other.name == vt.name)
          return Unexpected(fmt::format("{}: type.name {} is already defined", where(source, t->get("name")->source()),
                                        vt.name));
      if (auto err = vt.validate(); !err.empty())
        return Unexpected(fmt::format("{}: {}", where(source, t->source()), err));
      cfg.types.push_back(std::move(vt));
    }
  }
  if (auto err = g.validate(); !err.empty()) return Unexpected(fmt::format("{}: {}", source, err));
  return cfg;
}

Expected<GpuConfig, std::string> load_gpu_config(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return Unexpected(text.error());
  return parse_gpu_config(*text, path);
}

Expected<std::string, std::string> read_text_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Unexpected(fmt::format("cannot read {}", path));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Expected<toml::table, std::string> parse_toml(std::string_view text, std::string_view source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Unexpected(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
}

}  // namespace vgd
