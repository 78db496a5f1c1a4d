// Reading TOML tables into typed fields for the configuration parsers: every error names the
// source, the line and the key; a key nobody asked for is an error (a typo must not pass).
// Internal to the config layer.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>
#include <toml++/toml.h>
#include <vector>

#include "util/expected.h"
#include "vgpu/gpu.h"

namespace vgd {

Expected<std::string, std::string> read_text_file(const std::string& path);
Expected<toml::table, std::string> parse_toml(std::string_view text, std::string_view source);
// The [gpu] table and [[type]] array of a parsed document (other top-level keys are the
// caller's to check).
Expected<GpuConfig, std::string> gpu_config_from(const toml::table& root, std::string_view source);

inline 
std::string where(std::string_view source, const toml::source_region& r) {
  return fmt::format("{}:{}", source, r.begin.line);
}

// Reads [table] keys into typed fields, rejecting unknown keys and wrong types.
class TableReader {
 public:
  TableReader(const toml::table& t, std::string_view source, std::string prefix)
      : t_(t), source_(source), prefix_(std::move(prefix)) {}

  void allow(std::string_view key) { known_.insert(std::string(key)); }
  bool u64(std::string_view key, uint64_t& out, uint64_t scale = 1) {
    known_.insert(std::string(key));
    const toml::node* n = t_.get(key);
    if (!n) return true;
    auto v = n->value_exact<int64_t>();
    if (!v || *v < 0) return fail(*n, key, "a non-negative integer");
    if (static_cast<uint64_t>(*v) > UINT64_MAX / scale) return fail(*n, key, "small enough to fit 64 bits in bytes");
    out = static_cast<uint64_t>(*v) * scale;
    return true;
  }
  bool u32(std::string_view key, uint32_t& out) {
    uint64_t v = out;
    if (!u64(key, v)) return false;
    if (v > UINT32_MAX) return fail(*t_.get(key), key, "a 32-bit integer");
    out = static_cast<uint32_t>(v);
    return true;
  }
  bool str(std::string_view key, std::string& out) {
    known_.insert(std::string(key));
    const toml::node* n = t_.get(key);
    if (!n) return true;
    auto v = n->value_exact<std::string>();
    if (!v) return fail(*n, key, "a string");
    out = *v;
    return true;
  }
  bool str_list(std::string_view key, std::vector<std::string>& out) {
    known_.insert(std::string(key));
    const toml::node* n = t_.get(key);
    if (!n) return true;
    const toml::array* a = n->as_array();
    if (!a) return fail(*n, key, "an array of strings");
    std::vector<std::string> got;
    for (const toml::node& e : *a) {
      auto v = e.value_exact<std::string>();
      if (!v) return fail(e, key, "an array of strings");
      got.push_back(*v);
    }
    out = std::move(got);
    return true;
  }
  // A key with two spellings: `yes` (out = true) or `no` (false).
  bool choice(std::string_view key, std::string_view yes, std::string_view no, bool& out) {
    std::string v(out ? yes : no);
    if (!str(key, v)) return false;
    if (v != yes && v != no) return fail(*t_.get(key), key, fmt::format("\"{}\" or \"{}\"", yes, no));
    out = v == yes;
    return true;
  }
  bool boolean(std::string_view key, bool& out) {
    known_.insert(std::string(key));
    const toml::node* n = t_.get(key);
    if (!n) return true;
    auto v = n->value_exact<bool>();
    if (!v) return fail(*n, key, "true or false");
    out = *v;
    return true;
  }
  // A user or group: a number, or a name `resolve` turns into one (nullopt: no such name).
  using Resolve = std::optional<uint32_t> (*)(const std::string& name);
  bool id(const toml::node& n, std::string_view key, std::string_view what, Resolve resolve, uint32_t& out) {
    if (auto v = n.value_exact<int64_t>()) {
      if (*v < 0 || *v > UINT32_MAX) return fail(n, key, fmt::format("{} names or ids (0..4294967295)", what));
      out = static_cast<uint32_t>(*v);
      return true;
    }
    auto name = n.value_exact<std::string>();
    if (!name) return fail(n, key, fmt::format("{} names or ids", what));
    const auto resolved = resolve(*name);
    if (!resolved) {
      error = fmt::format("{}: {}{}: no {} named '{}' on this host", where(source_, n.source()), prefix_, key, what, *name);
      return false;
    }
    out = *resolved;
    return true;
  }
  // One id (a number or a name); absent: `out` stays as it is.
  bool id(std::string_view key, std::string_view what, Resolve resolve, std::optional<uint32_t>& out) {
    known_.insert(std::string(key));
    const toml::node* n = t_.get(key);
    uint32_t v = 0;
    if (!n) return true;
    if (!id(*n, key, what, resolve, v)) return false;
    out = v;
    return true;
  }
  // An array of ids (numbers or names, see id()); absent: `out` stays as it is.
  bool ids(std::string_view key, std::string_view what, Resolve resolve, std::optional<std::vector<uint32_t>>& out) {
    known_.insert(std::string(key));
    const toml::node* n = t_.get(key);
    if (!n) return true;
    const toml::array* arr = n->as_array();
    if (!arr) return fail(*n, key, fmt::format("an array of {} names or ids", what));
    std::vector<uint32_t> list;
    for (const toml::node& e : *arr) {
      uint32_t v = 0;
      if (!id(e, key, what, resolve, v)) return false;
      list.push_back(v);
    }
    out = std::move(list);
    return true;
  }
  // After all reads: any key not asked for is a typo or unsupported.
  bool no_unknown_keys() {
    for (const auto& [k, n] : t_)
      if (!known_.count(std::string(k.str()))) {
        error = fmt::format("{}: unknown key {}{}", where(source_, n.source()), prefix_, k.str());
        return false;
      }
    return true;
  }
  bool fail(const toml::node& n, std::string_view key, std::string_view want) {
    error = fmt::format("{}: {}{} must be {}", where(source_, n.source()), prefix_, key, want);
    return false;
  }

  std::string error;

 private:
  const toml::table& t_;
  std::string_view source_;
  std::string prefix_;
  std::set<std::string> known_;
};

}  // namespace vgd
