// Atomic checks of the virtual monitor (docs/direct-flip.md, Virtual monitor): the errno of each
// refusal is the one the kernel's atomic ioctl answers, so callers written against this monitor
// handle real KMS the same way.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "hostdisplay/virtual_state.h"

namespace vgd::hostdisplay::vmon {
namespace {

constexpr uint32_t kKnownFlags = kTestOnly | kNonblock | kPageFlipEvent | kAllowModeset | kAsync;

Unexpected<CommitError> refuse(int err, std::string what) { return Unexpected(CommitError{err, std::move(what)}); }

size_t index_of(const Resources& res, const CrtcInfo* c) { return static_cast<size_t>(c - res.crtcs.data()); }

// Applies one CRTC's properties to its next configuration.
std::optional<CommitError> apply_crtc(const Resources& res, const CrtcState& s, CrtcConfig& cfg, size_t index) {
  if (s.active) cfg.active = *s.active;
  if (s.mode) {
    // The monitor drives exactly the modes it lists (a KMS driver's mode_valid).
    const OutputInfo* out = nullptr;
    for (const OutputInfo& o : res.outputs)
      if (o.possible_crtcs & (1u << index)) out = &o;
    const bool listed = out && std::any_of(out->modes.begin(), out->modes.end(),
                                           [&](const Mode& m) { return m.same_timing(*s.mode); });
    if (!listed) return CommitError{EINVAL, fmt::format("CRTC {}: mode {} is not one the monitor drives", s.crtc_id, s.mode->name)};
    if (!cfg.mode || !cfg.mode->same_timing(*s.mode)) cfg.mode = *s.mode;
  }
  if (s.connector_id) {
    const auto it = std::find_if(res.outputs.begin(), res.outputs.end(),
                                 [&](const OutputInfo& o) { return o.connector_id == *s.connector_id; });
    if (it == res.outputs.end()) return CommitError{EINVAL, fmt::format("no connector {}", *s.connector_id)};
    if (!(it->possible_crtcs & (1u << index)))
      return CommitError{EINVAL, fmt::format("connector {} cannot be driven by CRTC {}", it->name, s.crtc_id)};
    cfg.connector_id = *s.connector_id;
  }
  return std::nullopt;
}

bool same_mode(const std::optional<Mode>& a, const std::optional<Mode>& b) {
  return a.has_value() == b.has_value() && (!a || a->same_timing(*b));
}

bool same_geometry(const PlaneState& a, const PlaneState& b) {
  return a.crtc_id == b.crtc_id && a.src_x == b.src_x && a.src_y == b.src_y && a.src_w == b.src_w &&
         a.src_h == b.src_h && a.crtc_x == b.crtc_x && a.crtc_y == b.crtc_y && a.crtc_w == b.crtc_w &&
         a.crtc_h == b.crtc_h;
}

// One plane's state on its own; the CRTC it names is known to be the plane's.
std::optional<CommitError> check_plane(const PlaneInfo& info, const PlaneState& p, uint64_t owner) {
  const auto* buf = dynamic_cast<const VmBuffer*>(p.buffer.get());
  if (!buf || buf->owner() != owner)
    return CommitError{EINVAL, fmt::format("plane {}: framebuffer {} is not this monitor's", p.plane_id, p.buffer->fb_id())};
  const BufferLayout& l = buf->layout();
  if (!info.supports(l.format))
    return CommitError{EINVAL, fmt::format("plane {} does not scan out format {:#010x} modifier {:#x}", p.plane_id,
                                           l.format.fourcc, l.format.modifier)};
  if (p.crtc_w == 0 || p.crtc_h == 0 || p.src_w == 0 || p.src_h == 0)
    return CommitError{EINVAL, fmt::format("plane {}: empty rectangle", p.plane_id)};
  if (p.crtc_w > INT_MAX || p.crtc_h > INT_MAX || int64_t{p.crtc_x} + p.crtc_w > INT_MAX ||
      int64_t{p.crtc_y} + p.crtc_h > INT_MAX)
    return CommitError{ERANGE, fmt::format("plane {}: CRTC rectangle overflows", p.plane_id)};
  // KMS answers ENOSPC for a source rectangle that does not fit in the framebuffer.
  const uint64_t fb_w = uint64_t{l.width} << 16, fb_h = uint64_t{l.height} << 16;
  if (p.src_w > fb_w || p.src_x > fb_w - p.src_w || p.src_h > fb_h || p.src_y > fb_h - p.src_h)
    return CommitError{ENOSPC, fmt::format("plane {}: source rectangle outside the {}x{} framebuffer", p.plane_id,
                                           l.width, l.height)};
  // No scaler (like virtio-gpu): the helper's no-scaling check answers ERANGE.
  if (p.src_w != uint64_t{p.crtc_w} << 16 || p.src_h != uint64_t{p.crtc_h} << 16)
    return CommitError{ERANGE, fmt::format("plane {}: scaling {}x{} to {}x{}: this monitor does not scale", p.plane_id,
                                           p.src_w >> 16, p.src_h >> 16, p.crtc_w, p.crtc_h)};
  if ((p.src_x | p.src_y) & 0xFFFF)
    return CommitError{EINVAL, fmt::format("plane {}: fractional source position", p.plane_id)};
  if (info.type == PlaneType::Cursor) {
    const bool square = p.crtc_w == p.crtc_h && (p.crtc_w == 64 || p.crtc_w == 128 || p.crtc_w == 256);
    if (!square) return CommitError{EINVAL, fmt::format("cursor {}x{}: only 64, 128 or 256 square", p.crtc_w, p.crtc_h)};
  }
  return std::nullopt;
}

// Async flips change only what is scanned out: the buffer of a primary plane that stays on
// where it is, in the same format (the kernel refuses anything else with EINVAL).
std::optional<CommitError> check_async(const PlaneInfo& info, const PlaneState& old, const PlaneState& p) {
  if (info.type != PlaneType::Primary)
    return CommitError{EINVAL, fmt::format("async flip of plane {}: only primary planes flip async", p.plane_id)};
  if (!old.buffer || !p.buffer || !same_geometry(old, p) ||
      !(old.buffer->layout().format == p.buffer->layout().format) ||
      old.buffer->layout().pitch[0] != p.buffer->layout().pitch[0])
    return CommitError{EINVAL, fmt::format("async flip of plane {} changes more than its buffer", p.plane_id)};
  return std::nullopt;
}

}  // namespace

Expected<Checked, CommitError> check_update(const Resources& res, std::span<const CrtcConfig> current,
                                            const State& state, uint32_t flags, uint64_t owner) {
  if (flags & ~kKnownFlags) return refuse(EINVAL, fmt::format("unknown commit flags {:#x}", flags & ~kKnownFlags));
  if ((flags & kTestOnly) && (flags & kPageFlipEvent)) return refuse(EINVAL, "TEST_ONLY with PAGE_FLIP_EVENT");
  if ((flags & kAsync) && (flags & kAllowModeset)) return refuse(EINVAL, "an async flip cannot modeset");

  Checked out{std::vector<CrtcConfig>(current.begin(), current.end())};
  for (const CrtcState& s : state.crtcs) {
    const CrtcInfo* c = res.crtc(s.crtc_id);
    if (!c) return refuse(EINVAL, fmt::format("no CRTC {}", s.crtc_id));
    const size_t i = index_of(res, c);
    if (auto err = apply_crtc(res, s, out.next[i], i)) return Unexpected(std::move(*err));
    out.touched |= 1u << i;
  }
  for (const PlaneState& p : state.planes) {
    const PlaneInfo* info = res.plane(p.plane_id);
    if (!info) return refuse(EINVAL, fmt::format("no plane {}", p.plane_id));
    const size_t plane_index = static_cast<size_t>(info - res.planes.data());
    const size_t i = plane_index / kPlanesPerCrtc;
    out.touched |= 1u << i;
    if ((p.crtc_id == 0) != (p.buffer == nullptr))
      return refuse(EINVAL, fmt::format("plane {}: a CRTC and a framebuffer, or neither", p.plane_id));
    PlaneState& slot = out.next[i].planes[plane_index % kPlanesPerCrtc];
    if (p.crtc_id != 0) {
      if (p.crtc_id != res.crtcs[i].id)
        return refuse(EINVAL, fmt::format("plane {} cannot be on CRTC {}", p.plane_id, p.crtc_id));
      if (auto err = check_plane(*info, p, owner)) return Unexpected(std::move(*err));
    }
    if (flags & kAsync)
      if (auto err = check_async(*info, slot, p)) return Unexpected(std::move(*err));
    if (p.buffer) {
      const std::optional<Hotspot> kept = slot.hotspot;
      slot = p;
      // Only cursor planes have hotspot properties (as virtio-gpu's), and unset keeps the old.
      if (info->type != PlaneType::Cursor) slot.hotspot.reset();
      else if (!p.hotspot) slot.hotspot = kept;
    } else {
      slot = PlaneState{};  // an off plane keeps no rectangles
      slot.plane_id = p.plane_id;
    }
  }

  for (size_t i = 0; i < out.next.size(); ++i) {
    if (!(out.touched & (1u << i))) continue;
    const CrtcConfig &was = current[i], &cfg = out.next[i];
    const uint32_t id = res.crtcs[i].id;
    if (cfg.active && (!cfg.mode || cfg.connector_id == 0))
      return refuse(EINVAL, fmt::format("CRTC {} active without a mode and a connector", id));
    for (const PlaneState& p : cfg.planes)
      if (p.buffer && !cfg.mode) return refuse(EINVAL, fmt::format("plane {} on CRTC {} that has no mode", p.plane_id, id));
    if (was.active != cfg.active || !same_mode(was.mode, cfg.mode) || was.connector_id != cfg.connector_id)
      out.modesets |= 1u << i;
    if ((flags & kPageFlipEvent) && !was.active && !cfg.active)
      return refuse(EINVAL, fmt::format("page-flip event on CRTC {} that stays off", id));
    if ((flags & kAsync) && !cfg.active) return refuse(EINVAL, fmt::format("async flip on CRTC {} that is off", id));
  }
  if (out.modesets && !(flags & kAllowModeset))
    return refuse(EINVAL, "the update needs a full modeset and ALLOW_MODESET is not set");
  if (out.modesets && (flags & kAsync)) return refuse(EINVAL, "an async flip cannot modeset");
  return out;
}

}  // namespace vgd::hostdisplay::vmon
