// The plane decoder: a pure function from a register snapshot and the vGPU's GGTT view to a
// plane description or a typed error. Every check a malicious guest needs (reference §3.9).
#pragma once

#include <optional>

#include "decode/plane.h"
#include "memory/ggtt_view.h"
#include "mmio/vreg_file.h"
#include "util/expected.h"

namespace vgd::decode {

// Copies the registers of pipe p (and the PVINFO hotspot) out of the register file.
PipeSnapshot snapshot(const VregFile& regs, hw::Pipe p);

// The pipe is running (state bit set by the host when the guest enabled it).
bool pipe_active(const VregFile& regs, hw::Pipe p);

// The pipe the decoder shows (reference §3.1): the first of A, B, C whose state bit is set.
std::optional<hw::Pipe> first_active_pipe(const VregFile& regs);

Expected<PlaneInfo, DecodeError> decode_plane(const PipeSnapshot& s, hw::Plane plane, const GgttView& ggtt);

}  // namespace vgd::decode
