// The plane decoder: a pure function from a register snapshot and the vGPU's GGTT view to a plane
// description or a typed error. Every check a malicious guest needs (docs/hardware.md, Decoding).
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

// The pipe shown (docs/hardware.md, Decoding): the first of A, B, C whose state bit is set.
std::optional<hw::Pipe> first_active_pipe(const VregFile& regs);

using Decoded = Expected<PlaneInfo, DecodeError>;
Decoded decode_plane(const PipeSnapshot& s, hw::Plane plane, const GgttView& ggtt);

// The part of a snapshot that decode_plane(s, plane, ...) reads; every other field is reset.
// Two snapshots with equal inputs decode alike (the display fuzzer checks it), so a cursor
// move does not invalidate a cached primary.
PipeSnapshot plane_inputs(const PipeSnapshot& s, hw::Plane plane);

}  // namespace vgd::decode
