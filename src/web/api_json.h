// vgpud's status as JSON for /api: the same snapshot /metrics formats, nested per vGPU, with
// durations in ns and names matching the metrics' labels. Pure.
#pragma once

#include <nlohmann/json.hpp>

#include "server/status.h"

namespace vgd::web {

// /api/daemon: the daemon's counters and a summary line per vGPU (id, type, workload, state).
nlohmann::json daemon_json(const server::DaemonStatus& s);
// /api/vgpus/<id>: everything about one vGPU.
nlohmann::json vgpu_json(const server::VgpuStatus& v);
// /api/vgpus: every vGPU in full, as an array.
nlohmann::json vgpus_json(const server::DaemonStatus& s);
// /api/outputs: the host display's outputs, the vGPU on each, its request and commit counters
// ({"available": false, ...} without a host display).
nlohmann::json outputs_json(const server::DaemonStatus& s);
// The body of every /api error: {"error": {"status": N, "message": "..."}}.
nlohmann::json error_json(int status, std::string_view message);
// /api and everything under it: answered in JSON, errors too.
inline bool is_api_path(std::string_view path) { return path == "/api" || path.rfind("/api/", 0) == 0; }

}  // namespace vgd::web
