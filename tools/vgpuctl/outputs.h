// vgpuctl outputs / assign / unassign: direct flip through vgpud's control protocol
// (docs/protocol.md §3.10).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "client/connection.h"

namespace vgd::ctl {

// The host display's outputs as a table / as JSON.
std::string outputs_table(const client::Outputs& o);
nlohmann::json outputs_json(const client::Outputs& o);

int run_outputs(const std::string& socket, bool as_json);
// Puts the vGPU's pipe on the output and keeps it there until SIGINT/SIGTERM (the daemon ends a
// client's assignment when the client goes), or until someone else unassigns it.
int run_assign(const std::string& socket, uint32_t vgpu, const std::string& output, char pipe);
int run_unassign(const std::string& socket, uint32_t vgpu, char pipe);

}  // namespace vgd::ctl
