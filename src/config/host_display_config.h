// Reading [host_display] and [[vgpu]] direct_flip (docs/config.md, "Direct flip"). Internal to
// the config layer.
#pragma once

#include <string_view>
#include <toml++/toml.h>

#include "config/daemon_config.h"
#include "util/expected.h"

namespace vgd {

// The [host_display] table (absent: backend None, outputs unset).
Expected<HostDisplayConfig, std::string> host_display_from(const toml::table& root, std::string_view source);
// A [[vgpu]]'s direct_flip inline table.
Expected<DirectFlipSpec, std::string> direct_flip_from(const toml::node& n, std::string_view source);
// After every vGPU is read: the backend a direct_flip needs, outputs that exist, one vGPU per
// output.
Expected<bool, std::string> check_direct_flip(DaemonConfig& cfg, const toml::table& root, std::string_view source);

}  // namespace vgd
