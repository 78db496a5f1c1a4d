// Text tables and JSON for vgpuctl's reports.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "sim/demo.h"
#include "sim/display_demo.h"
#include "vgpu/gpu.h"

namespace vgd::ctl {

nlohmann::json types_json(const Gpu& gpu);
std::string types_table(const Gpu& gpu);
nlohmann::json demo_json(const Gpu& gpu, const std::vector<DemoRow>& rows);
std::string demo_table(const Gpu& gpu, const std::vector<DemoRow>& rows);
nlohmann::json run_json(const Gpu& gpu, const DisplayDemoResult& result);
std::string run_table(const Gpu& gpu, const DisplayDemoResult& result);

}  // namespace vgd::ctl
