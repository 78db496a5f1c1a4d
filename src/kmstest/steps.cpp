#include "kmstest/steps.h"

#include <drm_fourcc.h>

#include <poll.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "kmstest/report.h"

namespace vgd::kmstest {
namespace {

void say(const std::string& line) {
  std::fputs(kLinePrefix.data(), stdout);
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);  // the serial console is the host's only witness
}

std::string usec(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIu64 ".%06" PRIu64, ns / 1'000'000'000u, ns / 1000u % 1'000'000u);
  return buf;
}

std::string buffer_facts(const DumbBuffer& b, Pattern p) {
  return " fb=" + std::to_string(b.fb_id()) + " width=" + std::to_string(b.width()) + " height=" +
         std::to_string(b.height()) + " pitch=" + std::to_string(b.pitch()) + " size=" + std::to_string(b.size()) +
         " pattern=" + std::string(pattern_name(p));
}

uint64_t fixed16(uint32_t v) { return static_cast<uint64_t>(v) << 16; }  // SRC_* are 16.16
uint64_t signed_prop(int32_t v) { return static_cast<uint64_t>(static_cast<int64_t>(v)); }

}  // namespace

std::unique_ptr<DumbBuffer> pattern_buffer(const Card& card, uint32_t w, uint32_t h, uint32_t format, Pattern p) {
  auto b = std::make_unique<DumbBuffer>(card, w, h, format);
  fill_pattern(p, b->pixels(), w, h, b->pitch());
  return b;
}

Steps::Steps(const Options& opt)
    : opt_(opt), card_(opt.device, opt.check_writeback), pipe_(find_pipeline(card_, opt.check_writeback)) {}

void Steps::report(const std::string& line) {
  if (!opt_.check_writeback) return say(line);
  const auto parsed = parse_report_line(std::string(kLinePrefix) + line);
  if (!parsed || !apply_step(scene_, *parsed)) throw KmsError("no scene from the line: " + line);
  if (!scene_.on) return say(line);
  check_writeback();
  say(line + " writeback=ok");
}

// One writeback job on the unchanged screen, into a cleared buffer, then pixel by pixel.
void Steps::check_writeback() {
  if (!writeback_ || writeback_->width() != mode_.hdisplay || writeback_->height() != mode_.vdisplay)
    writeback_ = std::make_unique<DumbBuffer>(card_, mode_.hdisplay, mode_.vdisplay, DRM_FORMAT_XRGB8888);
  std::memset(writeback_->pixels(), 0, writeback_->size());
  int32_t fence = -1;
  AtomicRequest req;
  req.set(pipe_.connector_id, pipe_.connector_props, "WRITEBACK_FB_ID", writeback_->fb_id());
  req.set(pipe_.connector_id, pipe_.connector_props, "WRITEBACK_OUT_FENCE_PTR", reinterpret_cast<uintptr_t>(&fence));
  req.commit(card_, 0);
  pollfd p{fence, POLLIN, 0};
  const int r = ::poll(&p, 1, opt_.event_timeout_ms);
  ::close(fence);
  if (r != 1) throw KmsError("the writeback fence did not signal");
  uint64_t wrong = 0;
  std::string first;
  for (uint32_t y = 0; y < scene_.height; ++y)
    for (uint32_t x = 0; x < scene_.width; ++x) {
      const uint32_t got = writeback_->pixels()[y * (writeback_->pitch() / 4) + x] & 0xffffffu;
      const uint32_t want = scene_pixel(scene_, x, y) & 0xffffffu;
      if (got != want && wrong++ == 0) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "(%u,%u) is %06x, not %06x", x, y, got, want);
        first = buf;
      }
    }
  if (wrong) throw KmsError("writeback differs in " + std::to_string(wrong) + " pixels, first " + first);
}

Steps::~Steps() = default;

std::string Steps::commit(const AtomicRequest& req, uint32_t flags, bool expect_event) {
  const uint64_t user_data = ++commits_;
  const uint64_t issued = monotonic_ns();
  req.commit(card_, flags | (expect_event ? DRM_MODE_PAGE_FLIP_EVENT : 0), user_data);
  if (!expect_event) return "";
  const FlipEvent ev = wait_flip_event(card_, opt_.event_timeout_ms);
  if (ev.user_data != user_data)
    throw KmsError("event for commit " + std::to_string(ev.user_data) + " while waiting for " + std::to_string(user_data));
  if (ev.crtc_id != 0 && ev.crtc_id != pipe_.crtc_id) throw KmsError("event for CRTC " + std::to_string(ev.crtc_id));
  if (event_pending(card_)) throw KmsError("a second event for one commit");
  // A modeset may restart the CRTC's counter; between flips it only goes forward.
  const bool modeset = flags & DRM_MODE_ATOMIC_ALLOW_MODESET;
  if (have_last_ && !modeset && (ev.sequence <= last_seq_ || ev.timestamp_ns() < last_ts_))
    throw KmsError("event out of order: seq " + std::to_string(ev.sequence) + " after " + std::to_string(last_seq_));
  have_last_ = true;
  last_seq_ = ev.sequence;
  last_ts_ = ev.timestamp_ns();
  const auto latency_us = static_cast<int64_t>(ev.timestamp_ns() - issued) / 1000;
  read_us_.push_back((ev.read_ns - issued) / 1000);
  event_us_.push_back(latency_us > 0 ? static_cast<uint64_t>(latency_us) : 0);
  return " seq=" + std::to_string(ev.sequence) + " tv=" + usec(ev.timestamp_ns()) + " issued=" + usec(issued) +
         " latency_us=" + std::to_string(latency_us);
}

void Steps::set_primary(AtomicRequest& req, const DumbBuffer& fb, uint32_t w, uint32_t h) const {
  const Properties& pp = pipe_.primary.props;
  req.set(pipe_.primary.id, pp, "FB_ID", fb.fb_id());
  req.set(pipe_.primary.id, pp, "CRTC_ID", pipe_.crtc_id);
  req.set(pipe_.primary.id, pp, "SRC_X", 0);
  req.set(pipe_.primary.id, pp, "SRC_Y", 0);
  req.set(pipe_.primary.id, pp, "SRC_W", fixed16(w));
  req.set(pipe_.primary.id, pp, "SRC_H", fixed16(h));
  req.set(pipe_.primary.id, pp, "CRTC_X", 0);
  req.set(pipe_.primary.id, pp, "CRTC_Y", 0);
  req.set(pipe_.primary.id, pp, "CRTC_W", w);
  req.set(pipe_.primary.id, pp, "CRTC_H", h);
}

// The plane showing all of fb at x, y, or off when fb is null.
void Steps::set_plane(AtomicRequest& req, const Plane& plane, const DumbBuffer* fb, int32_t x, int32_t y) const {
  req.set(plane.id, plane.props, "FB_ID", fb ? fb->fb_id() : 0);
  req.set(plane.id, plane.props, "CRTC_ID", fb ? pipe_.crtc_id : 0);
  if (!fb) return;
  req.set(plane.id, plane.props, "SRC_X", 0);
  req.set(plane.id, plane.props, "SRC_Y", 0);
  req.set(plane.id, plane.props, "SRC_W", fixed16(fb->width()));
  req.set(plane.id, plane.props, "SRC_H", fixed16(fb->height()));
  req.set(plane.id, plane.props, "CRTC_X", signed_prop(x));
  req.set(plane.id, plane.props, "CRTC_Y", signed_prop(y));
  req.set(plane.id, plane.props, "CRTC_W", fb->width());
  req.set(plane.id, plane.props, "CRTC_H", fb->height());
}

const drm_mode_modeinfo& Steps::pick_mode(uint32_t w, uint32_t h) const {
  std::string have;
  for (const auto& m : pipe_.modes) {
    if (m.hdisplay == w && m.vdisplay == h) return m;
    have += " " + mode_name(m);
  }
  throw KmsError("no mode " + std::to_string(w) + "x" + std::to_string(h) + " on " + pipe_.connector_name +
                 " (it has" + have + ")");
}

// --mode2, else the connector's first mode of another size that fits in the first (a smaller
// buffer, so an old frame's leftovers would show), else its first mode of another size.
const drm_mode_modeinfo& Steps::pick_second_mode() const {
  if (opt_.width2) return pick_mode(opt_.width2, opt_.height2);
  const drm_mode_modeinfo* other = nullptr;
  for (const auto& m : pipe_.modes) {
    if (m.hdisplay == mode_.hdisplay && m.vdisplay == mode_.vdisplay) continue;
    if (m.hdisplay <= mode_.hdisplay && m.vdisplay <= mode_.vdisplay) return m;
    if (!other) other = &m;
  }
  if (!other) throw KmsError(pipe_.connector_name + " has no second mode");
  return *other;
}

std::string Steps::modeset_to(const drm_mode_modeinfo& mode, bool others_off) {
  auto blob = std::make_unique<Blob>(card_, &mode, sizeof mode);
  auto front = pattern_buffer(card_, mode.hdisplay, mode.vdisplay, DRM_FORMAT_XRGB8888, Pattern::A);
  AtomicRequest req;
  req.set(pipe_.connector_id, pipe_.connector_props, "CRTC_ID", pipe_.crtc_id);
  for (const auto& [id, prop] : pipe_.others_on_crtc) req.set(id, prop, 0);
  req.set(pipe_.crtc_id, pipe_.crtc_props, "MODE_ID", blob->id());
  req.set(pipe_.crtc_id, pipe_.crtc_props, "ACTIVE", 1);
  set_primary(req, *front, mode.hdisplay, mode.vdisplay);
  if (others_off && pipe_.cursor) set_plane(req, *pipe_.cursor, nullptr, 0, 0);
  if (others_off && pipe_.overlay) set_plane(req, *pipe_.overlay, nullptr, 0, 0);
  const std::string event = commit(req, DRM_MODE_ATOMIC_ALLOW_MODESET, true);
  // The old buffers and mode go only now that the new ones are on screen.
  mode_blob_ = std::move(blob);
  front_ = std::move(front);
  mode_ = mode;
  return "connector=" + pipe_.connector_name + " crtc=" + std::to_string(pipe_.crtc_id) + " mode=" + mode_name(mode) +
         buffer_facts(*front_, Pattern::A) + event;
}

void Steps::modeset() { report("step modeset " + modeset_to(pick_mode(opt_.width, opt_.height), true)); }

// Flip i (1-based) puts pattern B (odd i) or C (even i) on the primary plane; returns the facts.
std::string Steps::flip_to(uint32_t i) {
  const uint32_t slot = (i - 1) % 2;
  const Pattern p = slot == 0 ? Pattern::B : Pattern::C;
  if (!flip_[slot]) flip_[slot] = pattern_buffer(card_, mode_.hdisplay, mode_.vdisplay, DRM_FORMAT_XRGB8888, p);
  AtomicRequest req;
  req.set(pipe_.primary.id, pipe_.primary.props, "FB_ID", flip_[slot]->fb_id());
  const std::string event = commit(req, DRM_MODE_ATOMIC_NONBLOCK, true);
  return buffer_facts(*flip_[slot], p) + event;
}

void Steps::flip(uint32_t i) {
  report("step flip index=" + std::to_string(i) + " of=" + std::to_string(opt_.flips) + flip_to(i));
}

void Steps::cursor(int32_t x, int32_t y) {
  if (!pipe_.cursor) throw KmsError("no cursor plane");
  if (!pipe_.cursor->supports(DRM_FORMAT_ARGB8888)) throw KmsError("the cursor plane has no ARGB8888");
  if (!cursor_) cursor_ = pattern_buffer(card_, kCursorSize, kCursorSize, DRM_FORMAT_ARGB8888, Pattern::Cursor);
  AtomicRequest req;
  set_plane(req, *pipe_.cursor, cursor_.get(), x, y);
  const std::string event = commit(req, DRM_MODE_ATOMIC_NONBLOCK, true);
  report("step cursor x=" + std::to_string(x) + " y=" + std::to_string(y) + buffer_facts(*cursor_, Pattern::Cursor) + event);
}

void Steps::overlay(int32_t x, int32_t y, uint32_t width, uint32_t height) {
  if (!pipe_.overlay) throw KmsError("no overlay plane");
  if (!pipe_.overlay->supports(DRM_FORMAT_XRGB8888)) throw KmsError("the overlay plane has no XRGB8888");
  overlay_ = pattern_buffer(card_, width, height, DRM_FORMAT_XRGB8888, Pattern::D);
  AtomicRequest req;
  set_plane(req, *pipe_.overlay, overlay_.get(), x, y);
  const std::string event = commit(req, DRM_MODE_ATOMIC_NONBLOCK, true);
  report("step overlay x=" + std::to_string(x) + " y=" + std::to_string(y) + buffer_facts(*overlay_, Pattern::D) + event);
}

void Steps::mode_change() {
  const std::string facts = modeset_to(pick_second_mode(), true);
  flip_[0].reset();  // the flip buffers were of the first mode's size
  flip_[1].reset();
  report("step mode " + facts);
}

void Steps::off() {
  AtomicRequest req;
  set_plane(req, pipe_.primary, nullptr, 0, 0);
  if (pipe_.cursor) set_plane(req, *pipe_.cursor, nullptr, 0, 0);
  if (pipe_.overlay) set_plane(req, *pipe_.overlay, nullptr, 0, 0);
  req.set(pipe_.connector_id, pipe_.connector_props, "CRTC_ID", 0);
  req.set(pipe_.crtc_id, pipe_.crtc_props, "MODE_ID", 0);
  req.set(pipe_.crtc_id, pipe_.crtc_props, "ACTIVE", 0);
  commit(req, DRM_MODE_ATOMIC_ALLOW_MODESET, false);  // a CRTC going off has no vblank to flip at
  front_.reset();
  mode_blob_.reset();
  report("step off crtc=" + std::to_string(pipe_.crtc_id));
}

void Steps::bench(uint32_t n) {
  read_us_.clear();
  event_us_.clear();
  for (uint32_t i = 1; i <= n; ++i) flip_to(i);
  say("bench-flips flips=" + std::to_string(read_us_.size()) + " mode=" + mode_name(mode_) +
      " p50_us=" + std::to_string(percentile(read_us_, 50)) + " p99_us=" + std::to_string(percentile(read_us_, 99)) +
      " max_us=" + std::to_string(percentile(read_us_, 100)) + " vblank_p50_us=" + std::to_string(percentile(event_us_, 50)) +
      " vblank_p99_us=" + std::to_string(percentile(event_us_, 99)));
}

}  // namespace vgd::kmstest
