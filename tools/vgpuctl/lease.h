// vgpuctl lease: an output of vgpud's host display leased (docs/protocol.md §3.11) to a command
// that inherits the lease fd, for as long as the command runs.
#pragma once

#include <string>
#include <vector>

namespace vgd::ctl {

// The lease fd the command inherits, and the environment variable that says so.
inline constexpr int kLeaseFd = 3;
inline constexpr const char* kLeaseFdEnv = "VGPU_LEASE_FD";

// Leases `output`, runs `command` with the lease as fd 3 (VGPU_LEASE_FD=3, VGPU_LESSEE=<id>),
// forwards SIGINT/SIGTERM to it, and returns its exit status (128 + the signal that killed it).
// The lease ends when the command ends: vgpuctl's connection closes and vgpud revokes it.
int run_lease(const std::string& socket, const std::string& output, const std::vector<std::string>& command);

}  // namespace vgd::ctl
