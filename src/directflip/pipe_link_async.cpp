// Async guest flips on the host (docs/direct-flip.md, The engine, Async flips): a guest's async
// primary flip (its flip-done already raised) becomes an async host commit where the host flips
// async and only the primary's buffer changes, else an ordinary commit that the host shows at its
// next vblank. The guest's next vblank still builds its frame as usual (it carries the damage and
// the other planes); with nothing new it shows the same buffers.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "directflip/pipe_link.h"

namespace vgd::directflip {

namespace {

bool same_place(const hostdisplay::PlaneState& a, const hostdisplay::PlaneState& b) {
  return a.crtc_id == b.crtc_id && a.src_x == b.src_x && a.src_y == b.src_y && a.src_w == b.src_w &&
         a.src_h == b.src_h && a.crtc_x == b.crtc_x && a.crtc_y == b.crtc_y && a.crtc_w == b.crtc_w &&
         a.crtc_h == b.crtc_h && a.hotspot == b.hotspot;
}

}  // namespace

void PipeLink::on_async_flip(hw::Pipe p, hw::Plane pl) {
  // KMS flips only primaries async; the cursor and sprite go with the next vblank's frame, and
  // before the first frame there is nothing on the host to flip.
  if (p != pipe_ || pl != hw::Plane::Primary || !shown_once_) return;
  display::VblankReport::Pipe r;
  r.active = true;
  r.async = display::plane_bit(pl);  // no hints: the planes are refreshed whole
  auto f = build(r);
  if (!f) return;  // logged; the next vblank tries again
  if (commit_async(*f)) return;
  ++c_.async_fallbacks;
  submit(std::move(*f));
}

bool PipeLink::only_primary_buffer_changes(const Frame& f) const {
  for (const auto& q : f.state.planes) {
    const auto was = committed_.find(q.plane_id);
    if (was == committed_.end() || !same_place(was->second, q)) return false;
    const hostdisplay::BufferRef& old = was->second.buffer;
    if (q.plane_id != planes_.primary) {
      if (old != q.buffer) return false;
      continue;
    }
    // The new buffer in the old one's place, format and pitch (the kernel's async check).
    if (!old || !q.buffer || !(old->layout().format == q.buffer->layout().format) ||
        old->layout().pitch[0] != q.buffer->layout().pitch[0])
      return false;
  }
  return true;
}

bool PipeLink::commit_async(Frame& f) {
  if (!display_->resources().async_page_flip || f.off || !only_primary_buffer_changes(f)) return false;
  Frame a;
  for (const auto& q : f.state.planes)
    if (q.plane_id == planes_.primary) a.state.planes.push_back(q);
  if (a.state.planes.empty()) return false;
  a.seq = next_seq_++;
  auto r = display_->commit(a.state, hostdisplay::kAsync | hostdisplay::kNonblock | hostdisplay::kPageFlipEvent, a.seq);
  if (!r) {
    // EBUSY (a commit still waits for its vblank) or a driver that refuses this one.
    spdlog::debug("direct flip: CRTC {}: async flip refused ({}): at the next vblank", planes_.crtc_id,
                  r.error().what);
    return false;
  }
  ++c_.async_commits;
  a.carries = f.carries;
  a.imports = f.imports, a.refills = f.refills, a.bytes = f.bytes;
  const auto others = std::partition(f.shadows.begin(), f.shadows.end(), [this](const auto& s) { return s.first == &primary_; });
  a.shadows.assign(f.shadows.begin(), others);
  f.shadows.erase(f.shadows.begin(), others);
  release(f);  // the other planes' shadows (unchanged planes: none)
  accepted(std::move(a));
  return true;
}

}  // namespace vgd::directflip
