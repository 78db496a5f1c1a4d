#include "hostdisplay/virtual_monitor.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "fb/convert.h"
#include "hostdisplay/virtual_formats.h"
#include "util/address.h"

namespace vgd::hostdisplay {
namespace {

constexpr uint32_t kCursorMax = 256;
constexpr uint64_t kPitchAlign = 64;  // what dumb buffers are aligned to on most drivers
constexpr uint32_t kFirstObjectId = 30;

std::string os_error() { return std::strerror(errno); }

// KMS numbers connectors, CRTCs, planes and framebuffers from one id space; so does the
// monitor, so an id of one kind never names an object of another.
Resources make_resources(const VirtualMonitorOptions& o, uint32_t& next_id) {
  Resources r;
  r.cursor_width = r.cursor_height = kCursorMax;
  r.async_page_flip = true;
  for (uint32_t i = 0; i < o.outputs; ++i) {
    OutputInfo out{next_id++, fmt::format("Virtual-{}", i + 1), true, 0, 1u << i, o.modes};
    if (i < o.preferred.size()) {
      std::erase_if(out.modes, [&](const Mode& m) { return m.same_timing(o.preferred[i]); });
      out.modes.insert(out.modes.begin(), o.preferred[i]);
    }
    for (size_t m = 0; m < out.modes.size(); ++m) out.modes[m].preferred = m == 0;
    r.outputs.push_back(std::move(out));
  }
  for (uint32_t i = 0; i < o.outputs; ++i) r.crtcs.push_back(CrtcInfo{next_id++, i, false, std::nullopt});
  for (uint32_t i = 0; i < o.outputs; ++i) {
    // In slot order (vmon::PlaneSlot), which is also their zpos.
    r.planes.push_back(PlaneInfo{next_id++, PlaneType::Primary, 1u << i, vmon::plane_formats(), vmon::kPrimary});
    r.planes.push_back(PlaneInfo{next_id++, PlaneType::Overlay, 1u << i, vmon::plane_formats(), vmon::kOverlay});
    r.planes.push_back(PlaneInfo{next_id++, PlaneType::Cursor, 1u << i, vmon::cursor_formats(), vmon::kCursor});
  }
  return r;
}

uint64_t new_owner_tag() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1);
}

}  // namespace

std::vector<Mode> default_virtual_modes() {
  return {Mode{1920, 1080, 60'000, "1920x1080", true, {}}, Mode{1280, 720, 60'000, "1280x720", false, {}},
          Mode{1024, 768, 60'000, "1024x768", false, {}}};
}

Expected<std::unique_ptr<VirtualMonitor>, std::string> VirtualMonitor::create(VirtualMonitorOptions options) {
  if (options.outputs == 0 || options.outputs > 32) return Unexpected(fmt::format("{} outputs: 1 to 32", options.outputs));
  if (options.modes.empty()) return Unexpected(std::string("an output needs at least one mode"));
  for (const auto* list : {&options.modes, &options.preferred})
    for (const Mode& m : *list)
      if (m.width == 0 || m.height == 0 || m.refresh_mhz == 0) return Unexpected(fmt::format("mode {}: empty", m.name));
  if (options.clock_thread && options.clock != VirtualMonitorOptions::Clock::Real)
    return Unexpected(std::string("a clock thread runs the real clock only"));
  UniqueFd events(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!events) return Unexpected("eventfd: " + os_error());
  UniqueFd timer;
  if (options.clock == VirtualMonitorOptions::Clock::Real) {
    timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer) return Unexpected("timerfd: " + os_error());
  }
  uint32_t next_id = kFirstObjectId;
  Resources res = make_resources(options, next_id);
  std::unique_ptr<VirtualMonitor> m(new VirtualMonitor(std::move(options), std::move(res), std::move(events), std::move(timer)));
  {
    const Locked lk(m->mu_);
    m->next_fb_id_ = next_id;
  }
  if (m->options_.clock_thread) {
    m->stop_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!m->stop_fd_) return Unexpected("eventfd: " + os_error());
    m->clock_thread_ = std::thread([mon = m.get()] { mon->clock_loop(); });
  }
  return m;
}

VirtualMonitor::VirtualMonitor(VirtualMonitorOptions options, Resources res, UniqueFd event_fd, UniqueFd timer_fd)
    : options_(std::move(options)), owner_tag_(new_owner_tag()), res_(std::move(res)), event_fd_(std::move(event_fd)),
      timer_fd_(std::move(timer_fd)) {
  const Locked lk(mu_);
  crtcs_.resize(res_.crtcs.size());
  virtual_now_ = options_.start_ns;
}

VirtualMonitor::~VirtualMonitor() {
  if (clock_thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_fd_.get(), &one, sizeof one);
    clock_thread_.join();
  }
}

// --- Buffers -----------------------------------------------------------------------------------

Expected<BufferRef, std::string> VirtualMonitor::create_buffer(uint32_t width, uint32_t height, uint32_t fourcc) {
  BufferLayout l{width, height, {fourcc, hw::drm::kModLinear}};
  l.pitch[0] = static_cast<uint32_t>(align_up(uint64_t{width} * fb::format_cpp(fourcc), kPitchAlign));
  const uint64_t size = uint64_t{l.pitch[0]} * height;
  if (auto err = vmon::layout_error(l, size)) return Unexpected("buffer: " + *err);
  auto map = Mapping::anonymous(align_up(size, kPageSize));
  if (!map) return Unexpected(map.error());
  const Locked lk(mu_);
  return BufferRef(std::make_shared<vmon::VmBuffer>(l, next_fb_id_++, owner_tag_, std::move(*map), 0, true));
}

Expected<BufferRef, std::string> VirtualMonitor::import(int fd, const BufferLayout& layout) {
  // lseek tells a dma-buf's size as well as a memfd's; mapping past the end would fault later.
  const off_t end = ::lseek(fd, 0, SEEK_END);
  if (end < 0) return Unexpected("import: size of fd: " + os_error());
  const uint64_t offset = layout.offset[0];
  if (offset > static_cast<uint64_t>(end))
    return Unexpected(fmt::format("import: offset {} past the end of {} bytes", offset, end));
  if (auto err = vmon::layout_error(layout, static_cast<uint64_t>(end) - offset)) return Unexpected("import: " + *err);
  const uint64_t map_start = offset / kPageSize * kPageSize;
  auto map = Mapping::of_fd(fd, offset - map_start + vmon::layout_bytes(layout), static_cast<off_t>(map_start), PROT_READ);
  if (!map) return Unexpected("import: " + map.error());
  const Locked lk(mu_);
  return BufferRef(std::make_shared<vmon::VmBuffer>(layout, next_fb_id_++, owner_tag_, std::move(*map),
                                                    offset - map_start, false));
}

// --- Commits -----------------------------------------------------------------------------------

Expected<bool, CommitError> VirtualMonitor::commit(const State& state, uint32_t flags, uint64_t user_data) {
  {
    const Locked lk(mu_);
    if (flags & kAllowModeset) ++counters_.with_allow_modeset;
    if (flags & kAsync) ++counters_.async;
    std::vector<vmon::CrtcConfig> current;
    for (const Crtc& c : crtcs_) current.push_back(c.committed);
    auto checked = vmon::check_update(res_, current, state, flags, owner_tag_);
    if (checked && (flags & (kNonblock | kAsync)) && !(flags & kTestOnly)) {
      // KMS refuses to queue a nonblocking commit behind one that has not completed.
      const uint32_t touched = checked->touched;
      for (size_t i = 0; i < crtcs_.size() && checked; ++i)
        if ((touched & (1u << i)) && !crtcs_[i].pending.empty())
          checked = Unexpected(CommitError{EBUSY, fmt::format("CRTC {} has a commit waiting for vblank", res_.crtcs[i].id)});
    }
    if (!checked) {
      ++counters_.refused;
      if (flags & kTestOnly) ++counters_.tests;
      // A refused test is a normal probe; a refused commit is the caller's bug.
      spdlog::log((flags & kTestOnly) ? spdlog::level::debug : spdlog::level::warn, "virtual monitor: {} refused ({}): {}",
                  (flags & kTestOnly) ? "test" : "commit", std::strerror(checked.error().err), checked.error().what);
      return Unexpected(checked.error());
    }
    if (flags & kTestOnly) {
      ++counters_.tests;
      return true;
    }
    ++counters_.commits;
    const uint64_t now = clock_now();
    for (size_t i = 0; i < crtcs_.size(); ++i) {
      if (!(checked->touched & (1u << i))) continue;
      Crtc& c = crtcs_[i];
      c.committed = checked->next[i];
      Update u{c.committed, (flags & kPageFlipEvent) != 0, user_data};
      // Without vblanks (off before or after) and for async flips the update latches at once,
      // after whatever was queued before it.
      if ((flags & kAsync) || !c.screen.active || !c.committed.active) {
        for (; !c.pending.empty(); c.pending.pop_front()) latch(i, c.pending.front(), now);
        latch(i, u, now);
      } else {
        c.pending.push_back(std::move(u));
      }
      sync_resources(i);
    }
    rearm();
  }
  publish_frames();
  return true;
}

void VirtualMonitor::sync_resources(size_t i) {
  const Crtc& c = crtcs_[i];
  CrtcInfo& info = res_.crtcs[i];
  info.active = c.committed.active;
  info.mode = c.committed.mode;
  for (OutputInfo& o : res_.outputs) {
    if (o.crtc_id == info.id) o.crtc_id = 0;
    if (o.connector_id == c.committed.connector_id) o.crtc_id = info.id;
  }
}

CommitCounters VirtualMonitor::counters() const {
  const Locked lk(mu_);
  return counters_;
}

// --- Events and frames -------------------------------------------------------------------------

void VirtualMonitor::dispatch(const EventHandlers& handlers) {
  std::deque<std::variant<FlipEvent, VblankEvent>> due;
  {
    const Locked lk(mu_);
    uint64_t n = 0;
    (void)!::read(event_fd_.get(), &n, sizeof n);  // EAGAIN when nothing was signalled
    due.swap(events_);
  }
  for (const auto& e : due) {
    if (const auto* flip = std::get_if<FlipEvent>(&e); flip && handlers.on_flip) handlers.on_flip(*flip);
    if (const auto* vblank = std::get_if<VblankEvent>(&e); vblank && handlers.on_vblank) handlers.on_vblank(*vblank);
  }
}

VirtualMonitor::Frame VirtualMonitor::scanout(uint32_t crtc_id) const {
  const Locked lk(mu_);
  const Crtc* c = crtc(crtc_id);
  return c ? c->frame : Frame{};
}

std::optional<PlaneState> VirtualMonitor::shown_plane(uint32_t plane_id) const {
  const Locked lk(mu_);
  const PlaneInfo* info = res_.plane(plane_id);
  if (!info) return std::nullopt;
  const auto k = static_cast<size_t>(info - res_.planes.data());
  return crtcs_[k / vmon::kPlanesPerCrtc].screen.planes[k % vmon::kPlanesPerCrtc];
}

void VirtualMonitor::set_frame_listener(std::function<void(uint32_t, uint64_t)> listener) {
  const Locked lk(mu_);
  listener_ = listener ? std::make_shared<const std::function<void(uint32_t, uint64_t)>>(std::move(listener)) : nullptr;
}

void VirtualMonitor::publish_frames() {
  std::vector<std::pair<uint32_t, uint64_t>> frames;
  std::shared_ptr<const std::function<void(uint32_t, uint64_t)>> listener;
  {
    const Locked lk(mu_);
    frames.swap(new_frames_);
    listener = listener_;
  }
  if (listener)
    for (const auto& [crtc_id, number] : frames) (*listener)(crtc_id, number);
}

uint64_t VirtualMonitor::unreadable_planes() const {
  const Locked lk(mu_);
  return unreadable_;
}

VirtualMonitor::Crtc* VirtualMonitor::crtc(uint32_t crtc_id) {
  const CrtcInfo* info = res_.crtc(crtc_id);
  return info ? &crtcs_[info->index] : nullptr;
}

const VirtualMonitor::Crtc* VirtualMonitor::crtc(uint32_t crtc_id) const {
  const CrtcInfo* info = res_.crtc(crtc_id);
  return info ? &crtcs_[info->index] : nullptr;
}

}  // namespace vgd::hostdisplay
