#include "viewers/vnc_stream.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <cerrno>
#include <mutex>
#include <optional>
#include <thread>

#include "client/client.h"
#include "util/unique_fd.h"
#include "viewers/damage.h"
#include "viewers/display_off.h"
#include "viewers/frame_grab.h"
#include "viewers/rfb_cursor.h"
#include "viewers/rfb_server.h"

namespace vgd::viewers {
namespace {

using namespace std::chrono_literals;

// The daemon answers in microseconds; the timeout only bounds how long a daemon that stopped
// serving (its loop gone, its socket still open) can hold this stream up.
constexpr auto kReplyTimeout = 1000ms;
constexpr auto kRetry = 500ms;  // between attempts to reach vgpud
constexpr uint32_t kStartWidth = 1024, kStartHeight = 768;  // until the guest's mode is known

bool same_shape(const CursorImage& a, const CursorImage& b) {
  return a.image.width == b.image.width && a.image.height == b.image.height && a.hot_x == b.hot_x &&
         a.hot_y == b.hot_y && a.image.px == b.image.px;
}

}  // namespace

struct VncStream::Impl {
  VncOptions opts;
  std::unique_ptr<RfbServer> rfb;
  UniqueFd wake;                      // eventfd: stop, or a client connected
  std::atomic<bool> stopping{false};
  std::atomic<bool> refresh{true};    // compose now, event or not (a client connected)
  mutable std::mutex mu;
  VncStats st;                        // under mu; the server's own numbers are added by stats()
  std::thread thread;

  // The consumer thread's alone.
  fb::Image shown;                    // what the framebuffer holds (never the cursor)
  std::optional<CursorImage> cursor;  // the shape clients were given, and where it is
  std::string off_detail;             // what the "display off" picture says, when it is up
  std::string lost;                   // why the connection to vgpud ended
  bool held_back = false;             // a write had to wait: retry soon even without an event
  // Damage hints (docs/viewers.md): the sprite's place in `shown`, and whether the next picture
  // must be compared everywhere (after a picture the hints do not describe).
  std::optional<Placement> sprite_shown;
  bool compare_all = true;

  void poke() {
    const uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
  template <class F>
  void count(F f) {
    const std::lock_guard lk(mu);
    f(st);
  }
  void run();
  void serve(client::VgpuSession& vgpu);
  bool handle(client::VgpuSession& vgpu, const client::EventCounts& ev, bool everything);
  // The guest's damage hints for the primary and the sprite, asked before the planes are read.
  Expected<std::pair<PlaneHints, PlaneHints>, client::Error> hints(client::VgpuSession& vgpu);
  void show(fb::Image pic, const std::optional<std::vector<Rect>>& hinted, std::optional<Placement> sprite);
  void show_off(const std::string& detail, bool guest_off);
  void update_cursor(std::optional<CursorImage> c);
};

Expected<std::unique_ptr<VncStream>, std::string> VncStream::start(VncOptions opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(opts);
  impl->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl->wake) return Unexpected(fmt::format("eventfd: {}", std::strerror(errno)));
  Impl* raw = impl.get();
  RfbOptions ro{raw->opts.listen, raw->opts.port, raw->opts.password,
                raw->opts.desktop_name.empty() ? fmt::format("vGPU {}", raw->opts.vgpu) : raw->opts.desktop_name,
                raw->opts.websocket};
  auto rfb = RfbServer::start(ro, kStartWidth, kStartHeight, [raw] {
    raw->refresh = true;  // the newcomer gets a picture composed now, not at the next event
    raw->poke();
  });
  if (!rfb) return Unexpected(rfb.error());
  raw->rfb = std::move(*rfb);
  raw->shown = render_display_off(kStartWidth, kStartHeight, "connecting to vgpud");
  raw->off_detail = "connecting to vgpud";
  raw->rfb->update(raw->shown, {Rect{0, 0, kStartWidth, kStartHeight}});
  raw->thread = std::thread([raw] {
    // Named for top and for CPU accounting; the client threads libvncserver starts from here
    // (rfbStartOnHoldClient) inherit the name.
    ::pthread_setname_np(::pthread_self(), fmt::format("vnc-{}", raw->opts.vgpu).substr(0, 15).c_str());
    raw->run();
  });
  return std::unique_ptr<VncStream>(new VncStream(std::move(impl)));
}

VncStream::VncStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

VncStream::~VncStream() {
  impl_->stopping = true;
  impl_->poke();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->rfb.reset();  // clients closed, libvncserver's threads joined
}

int VncStream::port() const { return impl_->rfb->port(); }

VncStats VncStream::stats() const {
  VncStats s;
  {
    const std::lock_guard lk(impl_->mu);
    s = impl_->st;
  }
  const RfbServer& rfb = *impl_->rfb;
  s.port = rfb.port();
  s.clients = rfb.clients();
  s.width = rfb.width();
  s.height = rfb.height();
  s.bytes_sent = rfb.bytes_sent();
  s.websocket_refused = rfb.websocket_refusals();
  return s;
}

void VncStream::set_dashboard_port(int port) { impl_->rfb->set_dashboard_port(port); }

void VncStream::Impl::run() {
  std::string reported;  // the last reason logged, so a daemon that is away is logged once
  while (!stopping) {
    auto conn = client::Connection::connect(opts.socket_path, fmt::format("vnc-{}", opts.vgpu), {kReplyTimeout});
    std::string why;
    if (!conn) {
      why = conn.error().message;
    } else if (auto vgpu = conn->open(opts.vgpu); !vgpu) {
      why = fmt::format("vGPU {}: {}", opts.vgpu, client::describe(vgpu.error()));
    } else if (auto e = vgpu->enable_events(); !e) {
      why = fmt::format("events: {}", client::describe(e.error()));
    } else {
      spdlog::debug("vnc :{}: following vGPU {}", rfb->port(), opts.vgpu);
      reported.clear();
      serve(*vgpu);
      why = lost;
      // Hang up rather than Close: a daemon that stopped serving would let that wait for the
      // reply timeout, and hanging up closes the session on its side just the same.
      if (vgpu->connection_fd() >= 0) ::shutdown(vgpu->connection_fd(), SHUT_RDWR);
    }
    if (stopping) break;
    if (why != reported) spdlog::warn("vnc :{}: vGPU {}: {}", rfb->port(), opts.vgpu, why);
    reported = why;
    show_off(fmt::format("no connection to vgpud: {}", why), false);
    update_cursor(std::nullopt);
    rfb->admit_clients();
    pollfd p{wake.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kRetry.count())) > 0) {
      uint64_t v;
      (void)!::read(wake.get(), &v, sizeof v);
    }
  }
}

void VncStream::Impl::serve(client::VgpuSession& vgpu) {
  refresh = true;
  bool stale = false;  // events were skipped while nobody watched
  for (;;) {
    if (stopping) return;
    if (refresh.exchange(false)) {
      if (!handle(vgpu, {}, true)) return;
      rfb->admit_clients();  // newcomers start with this picture
    }
    pollfd fds[3] = {{wake.get(), POLLIN, 0}, {vgpu.event_fd(), POLLIN, 0}, {vgpu.connection_fd(), POLLIN, 0}};
    // No tick: only a write that was held back comes back without an event (the guest may
    // have gone quiet, e.g. its display off).
    const int n = ::poll(fds, 3, held_back ? 50 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      lost = fmt::format("poll: {}", std::strerror(errno));
      return;
    }
    if (n == 0) {
      refresh = true;
      continue;
    }
    if (fds[0].revents) {
      uint64_t v;
      (void)!::read(wake.get(), &v, sizeof v);
      continue;  // stop or refresh: the loop's top sees which
    }
    auto ev = vgpu.wait_events(0ms);  // reads the events, or notices the daemon hung up
    if (!ev) {
      lost = client::describe(ev.error());
      return;
    }
    if (!ev->any()) continue;
    count([](VncStats& s) { ++s.events; });
    // Nobody watching: composing would be wasted. A client that connects asks for a refresh.
    if (rfb->clients() == 0) {
      stale = true;
      continue;
    }
    if (!handle(vgpu, *ev, stale)) return;
    stale = false;
  }
}

// One refresh: query and map the planes, compose primary + sprite, send what changed, then the
// cursor. An event that reports only the cursor skips the picture.
bool VncStream::Impl::handle(client::VgpuSession& vgpu, const client::EventCounts& ev, bool everything) {
  held_back = false;
  const bool cursor_only =
      !everything && off_detail.empty() && ev.primary == 0 && ev.sprite == 0 && ev.display_off == 0;
  // The damage first: a change after this answer is in the picture and in the next answer.
  std::pair<PlaneHints, PlaneHints> hinted;
  if (!cursor_only) {
    auto h = hints(vgpu);
    if (!h) {
      lost = client::describe(h.error());
      return false;
    }
    hinted = std::move(*h);
  }
  auto frame = cursor_only ? query_planes(vgpu, {hw::Plane::Cursor}) : query_planes(vgpu);
  if (!frame) {
    lost = client::describe(frame.error());
    return false;
  }
  if (auto m = map_buffers(vgpu, *frame); !m) {
    lost = client::describe(m.error());
    return false;
  }
  auto c = render_cursor(*frame);
  std::optional<CursorImage> cur = c ? std::move(*c) : std::nullopt;
  if (!cursor_only) {
    if (!(*frame)[hw::Plane::Primary]) {
      drop_buffers(*frame);
      show_off(frame->problems.empty() ? fmt::format("vGPU {}: the guest turned its display off", opts.vgpu)
                                       : fmt::format("vGPU {}: {}", opts.vgpu, frame->problems),
               true);
      update_cursor(std::nullopt);
      return true;
    }
    auto pic = compose_screen(*frame);
    drop_buffers(*frame);  // with tearing control this hands the guest's buffers back now
    if (!pic) {
      show_off(fmt::format("vGPU {}: {}", opts.vgpu, pic.error()), false);
      update_cursor(std::nullopt);
      return true;
    }
    count([&](VncStats& s) {
      ++s.frames;
      s.hinted_frames += hinted.first.hinted ? 1 : 0;
      s.display_off = false;
    });
    off_detail.clear();
    std::optional<Placement> sprite;
    if (const auto& sp = (*frame)[hw::Plane::Sprite])
      sprite = Placement{proto::signed_pos(sp->info.x_pos), proto::signed_pos(sp->info.y_pos), sp->info.width, sp->info.height};
    const auto rects = everything || compare_all ? std::nullopt
                       : hinted_screen_rects(hinted.first, hinted.second, sprite, sprite_shown, pic->width, pic->height);
    show(std::move(*pic), rects, sprite);
  } else {
    drop_buffers(*frame);
  }
  update_cursor(std::move(cur));
  rfb->reap_cursors();
  return true;
}

Expected<std::pair<PlaneHints, PlaneHints>, client::Error> VncStream::Impl::hints(client::VgpuSession& vgpu) {
  std::pair<PlaneHints, PlaneHints> out;
  for (auto [type, to] : {std::pair{proto::kPlanePrimary, &out.first}, std::pair{proto::kPlaneOverlay, &out.second}}) {
    auto d = vgpu.damage(type);
    if (!d) return Unexpected(d.error());
    to->hinted = d->hinted, to->whole = d->whole;
    for (const proto::DamageRect& r : d->rects) to->rects.push_back(Rect{r.x, r.y, r.width, r.height});
  }
  return out;
}

void VncStream::Impl::show(fb::Image pic, const std::optional<std::vector<Rect>>& hinted, std::optional<Placement> sprite) {
  if (pic.width != rfb->width() || pic.height != rfb->height()) {
    spdlog::info("vnc :{}: vGPU {} now {}x{}", rfb->port(), opts.vgpu, pic.width, pic.height);
    rfb->resize(pic);
    shown = std::move(pic);
    sprite_shown = sprite;
    compare_all = false;
    count([](VncStats& s) {
      ++s.resizes;
      ++s.updates;
    });
    if (cursor) rfb->move_pointer(cursor->pointer_x(), cursor->pointer_y());  // libvncserver clamped it
    return;
  }
  // With hints only their tiles are compared: the guest said nothing else changed.
  const Damage d = hinted ? diff_tiles_within(shown.px, pic.px, pic.width, pic.height, *hinted)
                          : diff_tiles(shown.px, pic.px, pic.width, pic.height);
  // Held back (a client that has libvncserver draw the cursor is mid-update): the next picture
  // is compared with what is still shown, everywhere (these hints are spent), so it carries
  // this change too.
  if (!d.empty() && !rfb->update(pic, d.rects)) {
    held_back = true;
    compare_all = true;
    return;
  }
  // `shown` stays what the framebuffer holds: only the rectangles sent are copied.
  for (const Rect& r : d.rects)
    for (uint32_t y = r.y; y < r.y + r.h; ++y)
      std::memcpy(&shown.px[size_t{y} * pic.width + r.x], &pic.px[size_t{y} * pic.width + r.x], size_t{r.w} * 4);
  sprite_shown = sprite;
  compare_all = false;
  count([&d](VncStats& s) {
    s.damaged_tiles += d.tiles;
    s.updates += d.rects.size();
  });
}

void VncStream::Impl::show_off(const std::string& detail, bool guest_off) {
  count([guest_off](VncStats& s) { s.display_off = guest_off; });
  if (detail == off_detail) return;
  // At the current size: a display going off is no reason to resize every viewer.
  fb::Image pic = render_display_off(rfb->width(), rfb->height(), detail);
  const uint32_t w = pic.width, h = pic.height;
  if (rfb->update(pic, {Rect{0, 0, w, h}})) {
    shown = std::move(pic);
    compare_all = true;  // the next picture is the guest's again: no hint describes the change
    off_detail = detail;
    count([](VncStats& s) { ++s.updates; });
  } else {
    held_back = true;
  }
}

void VncStream::Impl::update_cursor(std::optional<CursorImage> c) {
  if (c) c = placeable(std::move(*c), rfb->width(), rfb->height());
  if (!c) {
    if (!cursor) return;
    if (!rfb->set_cursor(std::nullopt)) {
      held_back = true;
      return;
    }
    cursor.reset();
    count([](VncStats& s) { ++s.cursor_shapes; });
    return;
  }
  const bool new_shape = !cursor || !same_shape(*cursor, *c);
  if (new_shape) {
    if (!rfb->set_cursor(c)) {
      held_back = true;  // tried again shortly
      return;
    }
    count([](VncStats& s) { ++s.cursor_shapes; });
  }
  if (!cursor || cursor->pointer_x() != c->pointer_x() || cursor->pointer_y() != c->pointer_y()) {
    rfb->move_pointer(c->pointer_x(), c->pointer_y());
    count([](VncStats& s) { ++s.cursor_moves; });
  }
  cursor = std::move(c);
}

}  // namespace vgd::viewers
