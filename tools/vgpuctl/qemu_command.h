// `vgpuctl qemu`: the QEMU command line that gives a VM its vGPU (docs/vm.md). Pure: the caller
// obtains the socket from vgpud and executes the result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/expected.h"

namespace vgd::ctl {

// The user's command plus the device on socket `fd`, and, unless the command already puts the
// VM's RAM in a memory backend, a memfd backend of the size `-m` asks for (QEMU's default 128 MiB
// without one): the daemon can only read RAM that QEMU shares as file descriptors.
Expected<std::vector<std::string>, std::string> qemu_command(std::vector<std::string> cmd, int fd, uint32_t vgpu);

// `-m` values as QEMU reads them: "512", "512M", "2G", "size=1G,slots=2,maxmem=4G"; MiB without
// a suffix. Nothing for what it cannot read.
std::optional<uint64_t> parse_qemu_memory(const std::string& value);

}  // namespace vgd::ctl
