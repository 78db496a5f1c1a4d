// GPU configuration from TOML: geometry, host reservations and extra vGPU types. Unknown keys
// and bad values are errors that name the key and its line.
#pragma once

#include <string>
#include <string_view>

#include "util/expected.h"
#include "vgpu/gpu.h"

namespace vgd {

Expected<GpuConfig, std::string> parse_gpu_config(std::string_view toml_text, std::string_view source_name);
Expected<GpuConfig, std::string> load_gpu_config(const std::string& path);

}  // namespace vgd
