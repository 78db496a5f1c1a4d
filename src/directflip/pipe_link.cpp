#include "directflip/pipe_link.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "decode/decoder.h"
#include "display/vblank_clock.h"
#include "hostdisplay/shadow_plan.h"

namespace vgd::directflip {

using hostdisplay::fixed16;
using hostdisplay::ShadowMode;
using hw::Plane;

namespace {

constexpr size_t slot(Plane pl) { return pl == Plane::Sprite ? 1 : 0; }

// What changed in plane pl since the previous vblank: the guest's hints, else all of it.
hostdisplay::Region damage(const display::VblankReport::Pipe& r, Plane pl) {
  const display::DamageSet& d = r.damage[static_cast<size_t>(pl)];
  if (!r.hinted || d.whole()) return hostdisplay::Region::whole_picture();
  hostdisplay::Region out;
  for (const auto& rect : d.rects()) out.add({rect.x, rect.y, rect.w, rect.h});
  return out;
}

// A coordinate of the guest's pipe on a host mode the primary plane scales it to.
int32_t scale(int32_t v, uint32_t to, uint32_t from) {
  return from ? static_cast<int32_t>(int64_t{v} * to / from) : v;
}

std::optional<decode::PlaneInfo> optional_plane(const decode::PipeSnapshot& s, Plane pl, const GgttView& ggtt) {
  auto d = decode::decode_plane(s, pl, ggtt);
  if (d) return std::move(*d);
  if (d.error().kind != decode::DecodeError::Kind::NoPlane)
    spdlog::warn("direct flip: pipe {} {} not shown: {}", hw::index(s.pipe), static_cast<int>(pl), d.error().reason);
  return std::nullopt;
}

}  // namespace

PipeLink::PipeLink(Vgpu& vgpu, hw::Pipe pipe, hostdisplay::HostDisplay& display, const OutputPlanes& planes)
    : vgpu_(&vgpu), pipe_(pipe), display_(&display), planes_(planes), primary_(display), overlay_(display),
      cursor_(display) {}

Expected<std::unique_ptr<PipeLink>, std::string> PipeLink::create(Vgpu& vgpu, hw::Pipe pipe,
                                                                   hostdisplay::HostDisplay& display,
                                                                   const OutputPlanes& planes) {
  if (vgpu.display_observer()) return Unexpected(fmt::format("vGPU {} already has a direct-flip link", vgpu.id()));
  std::unique_ptr<PipeLink> link(new PipeLink(vgpu, pipe, display, planes));
  if (planes.needs_bringup) {
    // The daemon's own bring-up: the one modeset, with the primary off until the guest's first frame.
    hostdisplay::State s;
    s.crtcs.push_back({planes.crtc_id, true, planes.mode, planes.connector_id});
    s.planes.push_back(link->off(planes.primary));
    auto r = display.commit(s, hostdisplay::kAllowModeset);
    if (!r) {
      s.planes = link->black();  // a driver that wants a primary on a lit CRTC
      if (s.planes.empty() || !(r = display.commit(s, hostdisplay::kAllowModeset)))
        return Unexpected(fmt::format("lighting the output with {}: {}", planes.mode.name, r.error().what));
    }
  }
  vgpu.set_display_observer(link.get());
  vgpu.add_flip_done_gate(link.get(), kMaxHoldVblanks);
  if (auto w = display.watch_vblanks(planes.crtc_id, true); !w) {
    link->clock_.unsupported(w.error());
    spdlog::info("direct flip: vGPU {} keeps its own vblank clock: {}", vgpu.id(), w.error());
  } else {
    link->c_.lead_us = link->clock_.lead() / 1000;
  }
  spdlog::info("direct flip: vGPU {} pipe {} on CRTC {} ({})", vgpu.id(), hw::index(pipe), planes.crtc_id,
               planes.mode.name);
  return link;
}

PipeLink::~PipeLink() {
  clock_.release(*vgpu_);  // the guest's own rate, phased from now
  if (clock_.host()) (void)display_->watch_vblanks(planes_.crtc_id, false);
  if (vgpu_->display_observer() == this) vgpu_->set_display_observer(nullptr);
  vgpu_->remove_flip_done_gate(this);  // flips only this link held complete now
  if (deferred_) release(*deferred_);
  // Blocking: it waits behind a commit still in flight, and nothing of ours is shown after it.
  Frame f = planes_off();
  if (!display_->commit(f.state, 0)) {
    f.state.planes = black();
    if (auto r = display_->commit(f.state, 0); !r) spdlog::warn("direct flip: planes left on: {}", r.error().what);
  }
}

void PipeLink::on_vblank(const display::VblankReport& report) {
  views_.keep_only(vgpu_->ram_ref().get());  // a replaced RAM is not kept alive by its views
  const auto& r = report.pipes[hw::index(pipe_)];
  if (!r.active) return;
  for (Plane pl : {Plane::Primary, Plane::Sprite})
    if (r.latched & display::plane_bit(pl)) ++latches_[slot(pl)];
  if (deferred_ && in_flight_.empty()) {
    // Deferred (EBUSY) behind a commit that was not this link's (the link it replaced turning
    // its planes off): no page-flip event of ours will send it, so each vblank tries again.
    Frame d = std::move(*deferred_);
    deferred_.reset();
    submit(std::move(d));
  }
  if (shown_once_ && !(r.latched | r.async | r.damaged())) return;
  auto f = build(r);
  if (!f) {
    ++c_.failed_frames;
    shown_ = latches_;  // nothing will show them: the guest need not wait
    vgpu_->retry_held_flips();
    return;
  }
  shown_once_ = true;
  submit(std::move(*f));
  // The lead must cover this: from the tick's nominal time to the commit made.
  const display::VblankClock* clock = vgpu_->vblank_clock();
  const uint64_t tick = vgpu_->last_vblank_ns();
  if (clock && tick) {
    const uint64_t now = clock->now_ns();
    clock_.record_build(now > tick ? now - tick : 0);
  }
}

void PipeLink::on_host_vblank(const hostdisplay::VblankEvent& e) {
  if (e.crtc_id != planes_.crtc_id || !clock_.host()) return;
  clock_.on_host_vblank(*vgpu_, static_cast<uint64_t>(e.timestamp.count()),
                        display::period_ns_for_mhz(planes_.mode.refresh_mhz));
  c_.lead_us = clock_.lead() / 1000;
  c_.host_vblanks = clock_.host_vblanks();
  c_.clock_aligns = clock_.aligns();
}

void PipeLink::on_pipe_state(hw::Pipe p, bool active) {
  if (p != pipe_) return;
  shown_once_ = false;
  if (!active) {
    views_.clear();
    submit(planes_off());
  }
}

bool PipeLink::may_complete(const display::HeldFlip& f) {
  if (f.pipe != pipe_ || f.plane == Plane::Cursor) return true;
  // Asked first at the vblank that latched it, before on_vblank has counted that latch.
  const uint64_t n = latches_[slot(f.plane)] + (f.first ? 1 : 0);
  return shown_[slot(f.plane)] >= n;
}

std::optional<PipeLink::Frame> PipeLink::build(const display::VblankReport::Pipe& r) {
  const auto snap = decode::snapshot(vgpu_->vregs(), pipe_);
  auto primary = decode::decode_plane(snap, Plane::Primary, vgpu_->ggtt());
  if (!primary) {
    if (primary.error().kind == decode::DecodeError::Kind::NoPlane) return planes_off();
    spdlog::warn("direct flip: vGPU {} pipe {} primary not shown: {}", vgpu_->id(), hw::index(pipe_),
                 primary.error().reason);
    return std::nullopt;
  }
  const auto sprite = optional_plane(snap, Plane::Sprite, vgpu_->ggtt());
  const auto cursor = optional_plane(snap, Plane::Cursor, vgpu_->ggtt());
  const std::pair<uint32_t, uint32_t> size{primary->width, primary->height};
  const bool same = size.first == planes_.mode.width && size.second == planes_.mode.height;
  const auto tested = scales_.find(size);
  // Untested sizes are tried scaled, then asked about with TEST_ONLY below.
  bool fits = same || tested == scales_.end() || tested->second;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Frame f;
    f.carries = latches_;
    const bool could_import = can_import_;
    if (!feed_pipe(f, *primary, sprite ? &*sprite : nullptr, cursor ? &*cursor : nullptr, r, fits)) {
      release(f);
      if (could_import && !can_import_) continue;  // again, with shadows
      return std::nullopt;
    }
    if (same || scales_.contains(size) || !fits) return f;
    auto t = display_->commit(f.state, hostdisplay::kTestOnly);
    scales_[size] = t.has_value();
    if (t) return f;
    spdlog::info("direct flip: CRTC {} does not scale {}x{} to {}: composing scaled ({})", planes_.crtc_id,
                 size.first, size.second, planes_.mode.name, t.error().what);
    release(f);
    fits = false;
  }
  return std::nullopt;
}

Expected<Fed, std::string> PipeLink::feed_one(PlaneFeed& feed, const decode::PlaneInfo& p,
                                              const hostdisplay::ShadowPlan& plan, const hostdisplay::Region& dmg) {
  switch (plan.mode) {
    case ShadowMode::Import: {
      auto f = feed.import(p, vgpu_->ram_ref());
      if (!f) {
        spdlog::warn("direct flip: {} cannot import guest memory ({}): shadows from now on", display_->name(), f.error());
        can_import_ = false;
      }
      return f;
    }
    case ShadowMode::Copy:
    case ShadowMode::Convert: {
      auto view = view_of(p);
      if (!view) return Unexpected(view.error());
      return feed.refill(p, **view, plan.format.fourcc, dmg);
    }
    default: return Unexpected(fmt::format("no way onto the host plane: {}", plan.reason));
  }
}

Expected<std::shared_ptr<const fb::PlaneView>, std::string> PipeLink::view_of(const decode::PlaneInfo& p) {
  auto v = views_.get(vgpu_->ram_ref(), p.pages);
  c_.surface_maps = views_.maps();
  return v;
}

hostdisplay::PlaneState PipeLink::place(uint32_t plane, const Fed& f, int32_t x, int32_t y, uint32_t w, uint32_t h) const {
  return {plane, planes_.crtc_id, f.buffer, fixed16(f.src_x), fixed16(f.src_y), fixed16(f.src_w), fixed16(f.src_h),
          x, y, w, h, {}};
}

bool PipeLink::feed_pipe(Frame& f, const decode::PlaneInfo& primary, const decode::PlaneInfo* sprite,
                         const decode::PlaneInfo* cursor, const display::VblankReport::Pipe& r, bool fits) {
  const auto& res = display_->resources();
  const auto* host_primary = res.plane(planes_.primary);
  const auto* host_overlay = planes_.overlay ? res.plane(planes_.overlay) : nullptr;
  if (!host_primary) return false;
  hostdisplay::PipeConditions c;
  c.primary_formats = host_primary->formats;
  if (host_overlay) c.overlay_formats = std::span<const hostdisplay::FormatModifier>(host_overlay->formats);
  c.can_import = can_import_;
  c.primary_fits = c.sprite_fits = fits;
  const auto plan = hostdisplay::plan_pipe(primary, sprite, c);
  const uint32_t mw = planes_.mode.width, mh = planes_.mode.height;
  const bool plane_scaled = primary.width != mw || primary.height != mh;  // by the host plane, if not composed
  auto keep = [&f](PlaneFeed& feed, const Fed& fed) {
    f.bytes += fed.bytes;
    if (fed.slot) f.shadows.emplace_back(&feed, fed);
  };

  bool cursor_composed = false;
  if (plan.primary.mode == ShadowMode::Compose) {
    auto pv = view_of(primary);
    std::shared_ptr<const fb::PlaneView> sv, cv;
    if (plan.sprite_composed && sprite)
      if (auto v = view_of(*sprite)) sv = std::move(*v);
    cursor_composed = plan.primary.scaled && cursor;  // its position is in the guest's pixels
    if (cursor_composed)
      if (auto v = view_of(*cursor)) cv = std::move(*v);
    if (!pv) return false;
    hostdisplay::ComposeSources s{&primary, pv->get(), sv ? sprite : nullptr, sv.get(), cv ? cursor : nullptr, cv.get()};
    const uint32_t w = plan.primary.scaled ? mw : primary.width, h = plan.primary.scaled ? mh : primary.height;
    auto fed = primary_.compose(s, w, h);
    if (!fed) {
      spdlog::warn("direct flip: composing pipe {}: {}", hw::index(pipe_), fed.error());
      return false;
    }
    keep(primary_, *fed);
    f.scaled_fallback = plan.primary.scaled;
    ++f.refills;
    f.state.planes.push_back(place(planes_.primary, *fed, 0, 0, plane_scaled ? mw : w, plane_scaled ? mh : h));
  } else {
    auto fed = feed_one(primary_, primary, plan.primary, damage(r, Plane::Primary));
    if (!fed) return false;
    keep(primary_, *fed);
    ++(plan.primary.mode == ShadowMode::Import ? f.imports : f.refills);
    f.state.planes.push_back(place(planes_.primary, *fed, 0, 0, plane_scaled ? mw : primary.width,
                                   plane_scaled ? mh : primary.height));
  }

  if (host_overlay) {
    if (plan.sprite && sprite) {
      auto fed = feed_one(overlay_, *sprite, *plan.sprite, damage(r, Plane::Sprite));
      if (!fed) return false;
      keep(overlay_, *fed);
      ++(plan.sprite->mode == ShadowMode::Import ? f.imports : f.refills);
      f.state.planes.push_back(place(planes_.overlay, *fed, scale(sprite->x_pos, mw, primary.width),
                                     scale(sprite->y_pos, mh, primary.height),
                                     plane_scaled ? scale(sprite->width, mw, primary.width) : sprite->width,
                                     plane_scaled ? scale(sprite->height, mh, primary.height) : sprite->height));
    } else {
      f.state.planes.push_back(off(planes_.overlay));
    }
  }
  if (planes_.cursor) return feed_cursor(f, cursor_composed ? nullptr : cursor, primary);
  return true;
}

bool PipeLink::feed_cursor(Frame& f, const decode::PlaneInfo* cursor, const decode::PlaneInfo& primary) {
  const auto* host = display_->resources().plane(planes_.cursor);
  if (!cursor || !host) {
    f.state.planes.push_back(off(planes_.cursor));
    return true;
  }
  auto plan = hostdisplay::plan_plane(*cursor, host->formats, {can_import_, true});
  if (plan.mode == ShadowMode::Compose) plan.mode = ShadowMode::Convert;  // alone on its plane
  auto fed = feed_one(cursor_, *cursor, plan, hostdisplay::Region::whole_picture());
  if (!fed) {
    f.state.planes.push_back(off(planes_.cursor));
    return !(plan.mode == ShadowMode::Import && !can_import_);  // retried with a shadow
  }
  if (fed->slot) f.shadows.emplace_back(&cursor_, *fed);
  f.bytes += fed->bytes;
  // CURPOS is the image's top-left, signed; KMS takes the same. The hotspot (PVINFO; unknown:
  // the top-left) is in the image's pixels, which are not scaled.
  const uint32_t mw = planes_.mode.width, mh = planes_.mode.height;
  auto p = place(planes_.cursor, *fed, scale(cursor->x_pos, mw, primary.width), scale(cursor->y_pos, mh, primary.height),
                 cursor->width, cursor->height);
  const bool known = cursor->x_hot != 0xFFFFFFFFu && cursor->y_hot != 0xFFFFFFFFu;
  p.hotspot = known ? hostdisplay::Hotspot{static_cast<int32_t>(cursor->x_hot), static_cast<int32_t>(cursor->y_hot)}
                    : hostdisplay::Hotspot{};
  f.state.planes.push_back(std::move(p));
  return true;
}

std::vector<hostdisplay::PlaneState> PipeLink::black() {
  if (!black_) {
    auto b = display_->create_buffer(planes_.mode.width, planes_.mode.height, hw::drm::kXRGB8888);
    if (!b) {
      spdlog::warn("direct flip: no black buffer: {}", b.error());
      return {};
    }
    black_ = *b;  // dumb buffers come zeroed: black
  }
  const uint32_t w = planes_.mode.width, h = planes_.mode.height;
  return {{planes_.primary, planes_.crtc_id, black_, 0, 0, fixed16(w), fixed16(h), 0, 0, w, h, {}}};
}

PipeLink::Frame PipeLink::planes_off() {
  Frame f;
  f.off = true;
  f.carries = latches_;
  for (uint32_t id : {planes_.primary, planes_.overlay, planes_.cursor})
    if (id) f.state.planes.push_back(off(id));
  return f;
}

std::optional<hostdisplay::PlaneState> PipeLink::host_cursor() const {
  const auto it = planes_.cursor ? committed_.find(planes_.cursor) : committed_.end();
  if (it == committed_.end() || !it->second.buffer) return std::nullopt;
  return it->second;
}

void PipeLink::release(Frame& f) {
  for (auto& [feed, fed] : f.shadows) feed->abandon(fed);
  f.shadows.clear();
}

void PipeLink::submit(Frame f) {
  f.seq = next_seq_++;
  auto r = display_->commit(f.state, hostdisplay::kNonblock | hostdisplay::kPageFlipEvent, f.seq);
  if (!r && r.error().err == EBUSY) {
    ++c_.busy_deferrals;
    if (deferred_) {
      ++c_.superseded;
      release(*deferred_);
    }
    deferred_ = std::move(f);
    return;
  }
  if (!r && f.off && !f.state.planes.empty() && f.state.planes.front().buffer == nullptr) {
    // A CRTC that must keep a primary: black instead of off.
    std::erase_if(f.state.planes, [this](const auto& p) { return p.plane_id == planes_.primary; });
    for (auto& p : black()) f.state.planes.insert(f.state.planes.begin(), p);
    if (f.state.planes.front().buffer) return submit(std::move(f));
  }
  if (!r) {
    ++c_.refused;
    spdlog::warn("direct flip: CRTC {} refused a frame of vGPU {}: {}", planes_.crtc_id, vgpu_->id(), r.error().what);
    release(f);
    for (size_t i = 0; i < 2; ++i) shown_[i] = std::max(shown_[i], f.carries[i]);  // nothing will show them
    vgpu_->retry_held_flips();
    return;
  }
  accepted(std::move(f));
}

void PipeLink::accepted(Frame f) {
  ++c_.commits;
  ++c_.frames;
  c_.imports += f.imports;
  c_.refills += f.refills;
  c_.bytes_copied += f.bytes;
  if (f.scaled_fallback) ++c_.scaled_fallbacks;
  for (auto& [feed, fed] : f.shadows) feed->submitted(fed);
  for (const auto& p : f.state.planes) committed_[p.plane_id] = p;
  in_flight_.push_back(std::move(f));
}

void PipeLink::on_flip(const hostdisplay::FlipEvent& e) {
  if (e.crtc_id != planes_.crtc_id) return;
  if (in_flight_.empty() || in_flight_.front().seq != e.user_data) return;  // not a commit of this link
  Frame f = std::move(in_flight_.front());
  in_flight_.pop_front();
  ++c_.flips_shown;
  for (const auto& p : f.state.planes) {
    const uint32_t fb = p.buffer ? p.buffer->fb_id() : 0;
    if (p.plane_id == planes_.primary) primary_.latched(fb);
    else if (p.plane_id == planes_.overlay) overlay_.latched(fb);
    else if (p.plane_id == planes_.cursor) cursor_.latched(fb);
  }
  for (size_t i = 0; i < 2; ++i) shown_[i] = std::max(shown_[i], f.carries[i]);
  if (deferred_) {
    Frame d = std::move(*deferred_);
    deferred_.reset();
    submit(std::move(d));
  }
  vgpu_->retry_held_flips();
}

}  // namespace vgd::directflip
