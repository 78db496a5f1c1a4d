#include "config/host_display_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "config/toml_reader.h"

namespace vgd {
namespace {

using Backend = HostDisplayConfig::Backend;

std::string at(std::string_view source, const toml::node* n, const toml::node& fallback) {
  return where(source, n ? n->source() : fallback.source());
}

Expected<VirtualOutputConfig, std::string> virtual_output_from(const toml::node& n, size_t i, std::string_view source) {
  const toml::table* t = n.as_table();
  const std::string key = fmt::format("host_display.outputs[{}]", i);
  if (!t) return Unexpected(fmt::format("{}: {} must be a table {{ name = \"Virtual-{}\", width = ..., height = ..., refresh_hz = ... }}",
                                        where(source, n.source()), key, i + 1));
  VirtualOutputConfig o;
  o.name = fmt::format("Virtual-{}", i + 1);
  TableReader r(*t, source, key + ".");
  if (!r.str("name", o.name) || !r.u32("width", o.width) || !r.u32("height", o.height) || !r.u32("refresh_hz", o.refresh_hz) ||
      !r.no_unknown_keys())
    return Unexpected(r.error);
  // The virtual monitor numbers its outputs as KMS names connectors: the name is a check.
  if (o.name != fmt::format("Virtual-{}", i + 1))
    return Unexpected(fmt::format("{}: {}.name must be Virtual-{} (the virtual monitor numbers its outputs from 1)",
                                  at(source, t->get("name"), n), key, i + 1));
  if (o.width < 64 || o.width > 8192 || o.height < 64 || o.height > 8192)
    return Unexpected(fmt::format("{}: {} is {}x{}: width and height must be 64..8192", where(source, n.source()), key,
                                  o.width, o.height));
  if (o.refresh_hz < 1 || o.refresh_hz > 240)
    return Unexpected(fmt::format("{}: {}.refresh_hz must be 1..240", at(source, t->get("refresh_hz"), n), key));
  return o;
}

}  // namespace

std::vector<VirtualOutputConfig> default_virtual_outputs() { return {{"Virtual-1"}, {"Virtual-2"}}; }

Expected<HostDisplayConfig, std::string> host_display_from(const toml::table& root, std::string_view source) {
  HostDisplayConfig h;
  const toml::node* n = root.get("host_display");
  if (!n) return h;
  const toml::table* t = n->as_table();
  if (!t) return Unexpected(fmt::format("{}: host_display must be a table", where(source, n->source())));
  std::string backend = "virtual";
  int64_t lease = -1;
  TableReader r(*t, source, "host_display.");
  r.allow("outputs");
  r.allow("lease_fd");
  if (!r.str("backend", backend) || !r.str("card", h.card) || !r.no_unknown_keys()) return Unexpected(r.error);
  const auto key_at = [&](std::string_view k) { return at(source, t->get(k), *n); };
  if (backend != "virtual" && backend != "kms")
    return Unexpected(fmt::format("{}: host_display.backend must be virtual or kms", key_at("backend")));
  if (const toml::node* l = t->get("lease_fd")) {
    const auto v = l->value_exact<int64_t>();
    // 0..2 are stdio: a lease is an fd the daemon's parent left open beyond them.
    if (!v || *v < 3 || *v > 65535)
      return Unexpected(fmt::format("{}: host_display.lease_fd must be an inherited descriptor number, 3..65535", key_at("lease_fd")));
    lease = *v;
  }
  if (backend == "virtual") {
    h.backend = Backend::Virtual;
    for (std::string_view k : {"card", "lease_fd"})
      if (t->get(k)) return Unexpected(fmt::format("{}: host_display.{} applies only to backend = \"kms\"", key_at(k), k));
    if (const toml::node* outs = t->get("outputs")) {
      const toml::array* arr = outs->as_array();
      if (!arr || arr->empty() || arr->size() > 32)
        return Unexpected(fmt::format("{}: host_display.outputs must be an array of 1..32 tables", key_at("outputs")));
      for (size_t i = 0; i < arr->size(); ++i) {
        auto o = virtual_output_from(*arr->get(i), i, source);
        if (!o) return Unexpected(o.error());
        h.outputs.push_back(std::move(*o));
      }
    } else {
      h.outputs = default_virtual_outputs();
    }
    return h;
  }
  h.backend = Backend::Kms;
  if (t->get("outputs"))
    return Unexpected(fmt::format("{}: host_display.outputs applies only to backend = \"virtual\" (a card has its own)", key_at("outputs")));
  if (h.card.empty() == (lease < 0))
    return Unexpected(fmt::format("{}: host_display with backend = \"kms\" needs card = \"/dev/dri/cardN\" or lease_fd = N, not both",
                                  where(source, n->source())));
  if (!h.card.empty() && h.card.front() != '/')
    return Unexpected(fmt::format("{}: host_display.card must be a device path such as /dev/dri/card0", key_at("card")));
  h.lease_fd = static_cast<int>(lease);
  return h;
}

Expected<DirectFlipSpec, std::string> direct_flip_from(const toml::node& n, std::string_view source) {
  const toml::table* t = n.as_table();
  if (!t) return Unexpected(fmt::format("{}: vgpu.direct_flip must be a table {{ output = \"Virtual-1\" }}", where(source, n.source())));
  DirectFlipSpec d;
  std::string pipe = "A";
  TableReader r(*t, source, "vgpu.direct_flip.");
  if (!r.str("output", d.output) || !r.str("pipe", pipe) || !r.no_unknown_keys()) return Unexpected(r.error);
  if (d.output.empty()) return Unexpected(fmt::format("{}: vgpu.direct_flip.output names a host output, such as Virtual-1", where(source, n.source())));
  if (pipe.size() != 1 || pipe[0] < 'A' || pipe[0] > 'C')
    return Unexpected(fmt::format("{}: vgpu.direct_flip.pipe must be A, B or C", at(source, t->get("pipe"), n)));
  d.pipe = static_cast<hw::Pipe>(pipe[0] - 'A');
  return d;
}

Expected<bool, std::string> check_direct_flip(DaemonConfig& cfg, const toml::table& root, std::string_view source) {
  HostDisplayConfig& h = cfg.host_display;
  const toml::array* vgpus = root.get("vgpu") ? root.get("vgpu")->as_array() : nullptr;
  std::map<std::string, size_t> taken;  // output -> vGPU index
  for (size_t i = 0; i < cfg.vgpus.size(); ++i) {
    const auto& d = cfg.vgpus[i].direct_flip;
    if (!d) continue;
    const toml::table* vt = vgpus && vgpus->get(i) ? vgpus->get(i)->as_table() : nullptr;
    const toml::node* n = vt ? vt->get("direct_flip") : nullptr;
    const std::string line = n ? where(source, n->source()) : std::string(source);
    if (h.backend == Backend::None) {  // a direct flip needs a display: the virtual one unless told
      h.backend = Backend::Virtual;
      h.outputs = default_virtual_outputs();
    }
    if (h.backend == Backend::Virtual &&
        std::none_of(h.outputs.begin(), h.outputs.end(), [&](const VirtualOutputConfig& o) { return o.name == d->output; }))
      return Unexpected(fmt::format("{}: vgpu.direct_flip.output {} is not an output of the virtual monitor (Virtual-1..Virtual-{})",
                                    line, d->output, h.outputs.size()));
    if (auto [it, fresh] = taken.emplace(d->output, i); !fresh)
      return Unexpected(fmt::format("{}: vgpu.direct_flip.output {} is already vGPU {}'s: one vGPU per output", line, d->output,
                                    it->second + 1));
  }
  return true;
}

}  // namespace vgd
