// vgpu-kms-probe (docs/vm.md, The kms test rig): inside a VM with virtio-gpu (two outputs), it
// drives the KMS backend on /dev/dri/card0 and says on stdout what it put on screen, for the
// host test that captures each output over QEMU's VNC:
//   1. enumerate; show pattern A on the first output and B on the second (one atomic modeset);
//      ask for vblank events on the first and say what the kernel answers;
//   2. after a line on stdin: lease the second output (connector, CRTC, its primary and cursor
//      planes), check that the master can no longer commit there, pass the lease fd to a child
//      over a socket, and there drive that output through it alone: pattern C with a page flip
//      and its event;
//   3. after another line: end the lease and exit.
// Lines start with "kms-probe: "; a failure prints "kms-probe: FAIL <why>" and exits 1.
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "hostdisplay/kms_display.h"
#include "hw/formats.h"
#include "kmstest/patterns.h"
#include "util/fd_passing.h"

namespace {

using vgd::hostdisplay::BufferRef;
using vgd::hostdisplay::KmsDisplay;
using vgd::hostdisplay::PlaneType;
using vgd::kmstest::Pattern;
namespace hd = vgd::hostdisplay;

template <class... A>
void say(fmt::format_string<A...> f, A&&... a) {
  std::fputs(("kms-probe: " + fmt::format(f, std::forward<A>(a)...) + "\n").c_str(), stdout);
  std::fflush(stdout);
}

template <class... A>
[[noreturn]] void fail(fmt::format_string<A...> f, A&&... a) {
  say("FAIL {}", fmt::format(f, std::forward<A>(a)...));
  std::exit(1);
}

constexpr const char* kPlaneTypes[] = {"primary", "overlay", "cursor"};

// One output with the CRTC and planes it is shown through.
struct Route {
  const hd::OutputInfo* output = nullptr;
  uint32_t crtc_id = 0, primary = 0, cursor = 0;
  hd::Mode mode;
};

uint32_t plane_for(const hd::Resources& r, uint32_t crtc_index, PlaneType type) {
  for (const hd::PlaneInfo& p : r.planes)
    if (p.type == type && (p.possible_crtcs >> crtc_index & 1)) return p.id;
  return 0;
}

// The first `n` outputs, each on its own CRTC, in their preferred (else first) mode; an output
// without modes (disconnected) borrows the first one's.
std::vector<Route> routes(const hd::Resources& r, size_t n) {
  std::vector<Route> out;
  uint32_t taken = 0;
  for (const hd::OutputInfo& o : r.outputs) {
    if (out.size() == n) break;
    Route route;
    route.output = &o;
    for (const hd::CrtcInfo& c : r.crtcs) {
      if (!(o.possible_crtcs >> c.index & 1) || (taken >> c.index & 1)) continue;
      taken |= 1u << c.index;
      route.crtc_id = c.id;
      route.primary = plane_for(r, c.index, PlaneType::Primary);
      route.cursor = plane_for(r, c.index, PlaneType::Cursor);
      break;
    }
    if (route.crtc_id == 0 || route.primary == 0) fail("output {} has no free CRTC with a primary plane", o.name);
    for (const hd::Mode& m : o.modes)
      if (route.mode.blob.empty() || m.preferred) route.mode = m;
    if (route.mode.blob.empty() && !out.empty()) route.mode = out.front().mode;
    if (route.mode.blob.empty()) fail("output {} has no mode", o.name);
    out.push_back(route);
  }
  if (out.size() < n) fail("{} outputs, {} wanted", r.outputs.size(), n);
  return out;
}

BufferRef pattern_buffer(hd::HostDisplay& d, const hd::Mode& mode, Pattern p) {
  auto buf = d.create_buffer(mode.width, mode.height, vgd::hw::drm::kXRGB8888);
  if (!buf) fail("{}", buf.error());
  auto px = (*buf)->pixels();
  vgd::kmstest::fill_pattern(p, reinterpret_cast<uint32_t*>(px.data()), mode.width, mode.height,
                             (*buf)->layout().pitch[0]);
  return *buf;
}

hd::PlaneState full_screen(uint32_t plane, uint32_t crtc, BufferRef buf) {
  hd::PlaneState s;
  s.plane_id = plane;
  s.crtc_id = crtc;
  const auto& l = buf->layout();
  s.src_w = hd::fixed16(l.width);
  s.src_h = hd::fixed16(l.height);
  s.crtc_w = l.width;
  s.crtc_h = l.height;
  s.buffer = std::move(buf);
  return s;
}

// Dispatches events to `h` until `done`, for up to 10 s; false if it never was.
template <class Done>
bool pump(hd::HostDisplay& d, const hd::EventHandlers& h, Done done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < until) {
    pollfd p{d.event_fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) == 1) d.dispatch(h);
  }
  return done();
}

// Dispatches events until `want` page flips came, for up to 10 s.
std::vector<hd::FlipEvent> wait_flips(hd::HostDisplay& d, size_t want) {
  std::vector<hd::FlipEvent> got;
  if (!pump(d, {[&](const hd::FlipEvent& e) { got.push_back(e); }, {}}, [&] { return got.size() >= want; }))
    fail("{} page-flip events of {} after 10 s", got.size(), want);
  return got;
}

// What the kernel answers the older vblank-event request, DRM_IOCTL_WAIT_VBLANK with an event
// for the next vblank of the CRTC with index `index`, which the backend uses where the kernel has
// no CRTC_QUEUE_SEQUENCE (an event it queues is dropped: its user data names no CRTC).
int kernel_answer_for_wait_vblank(int fd, uint32_t index) {
  drmVBlank vbl{};
  vbl.request.type = static_cast<drmVBlankSeqType>(DRM_VBLANK_RELATIVE | DRM_VBLANK_EVENT |
                                                   ((index << DRM_VBLANK_HIGH_CRTC_SHIFT) & DRM_VBLANK_HIGH_CRTC_MASK));
  vbl.request.sequence = 1;
  return drmWaitVBlank(fd, &vbl) == 0 ? 0 : errno;
}

// Vblank events of a lit output: what the kernel answers (a driver without vblank interrupts
// refuses), and when it delivers, that three come with consecutive sequences.
void probe_vblanks(hd::HostDisplay& d, const Route& route) {
  const std::string head = fmt::format("watch_vblanks on {} crtc {}", route.output->name, route.crtc_id);
  if (auto w = d.watch_vblanks(route.crtc_id, true); !w) {
    say("{}: refused: {}", head, w.error());
    return;
  }
  std::vector<hd::VblankEvent> got;
  pump(d, {{}, [&](const hd::VblankEvent& e) { got.push_back(e); }}, [&] { return got.size() >= 3; });
  bool consecutive = got.size() == 3;
  for (size_t i = 1; i < got.size(); ++i) consecutive = consecutive && got[i].sequence == got[i - 1].sequence + 1;
  say("{}: {} events in 10 s, consecutive={}", head, got.size(), consecutive);
  if (auto w = d.watch_vblanks(route.crtc_id, false); !w) fail("{}: off: {}", head, w.error());
}

void commit_or_fail(hd::HostDisplay& d, const hd::State& s, uint32_t flags, uint64_t user_data, const char* what) {
  if (auto t = d.commit(s, flags | hd::kTestOnly); !t) fail("{}: test: {} ({})", what, t.error().what, t.error().err);
  if (auto c = d.commit(s, flags, user_data); !c) fail("{}: {} ({})", what, c.error().what, c.error().err);
}

void wait_line(const char* what) {
  say("waiting for a line to {}", what);
  std::string line;
  if (!std::getline(std::cin, line)) fail("stdin closed");
}

// What the kernel itself answers when the owner tests a commit to a plane it leased out (the
// backend refuses before asking): its FB_ID set to another valid framebuffer, TEST_ONLY.
int kernel_answer_for_leased(int fd, uint32_t plane, uint32_t fb_id) {
  drmModeObjectProperties* props = drmModeObjectGetProperties(fd, plane, DRM_MODE_OBJECT_PLANE);
  if (!props) return errno;
  uint32_t fb_prop = 0;
  for (uint32_t i = 0; i < props->count_props && !fb_prop; ++i) {
    drmModePropertyRes* p = drmModeGetProperty(fd, props->props[i]);
    if (p && std::strcmp(p->name, "FB_ID") == 0) fb_prop = p->prop_id;
    drmModeFreeProperty(p);
  }
  drmModeFreeObjectProperties(props);
  drmModeAtomicReq* req = drmModeAtomicAlloc();
  drmModeAtomicAddProperty(req, plane, fb_prop, fb_id);
  const int r = drmModeAtomicCommit(fd, req, DRM_MODE_ATOMIC_TEST_ONLY, nullptr);
  drmModeAtomicFree(req);
  return r < 0 ? -r : 0;
}

// The child: output 2 through the lease fd alone, which the parent passes over `sock`
// (SCM_RIGHTS, as vgpud hands a lease to another process); it says "shown" with a byte and
// keeps the lease until the parent closes the socket.
int lessee(int sock, const Route& own, const Route& other) {
  std::byte tag[1];
  std::vector<vgd::UniqueFd> fds;
  if (vgd::recv_with_fds(sock, tag, 0, 1, fds).n != 1 || fds.size() != 1) fail("lessee: no lease fd came");
  auto d = KmsDisplay::adopt(std::move(fds[0]), "lease of card0");
  if (!d) fail("lessee: {}", d.error());
  const hd::Resources& r = (*d)->resources();
  std::string outputs;
  for (const auto& o : r.outputs) outputs += " " + o.name;
  say("lessee sees outputs={} crtcs={} planes={}:{}", r.outputs.size(), r.crtcs.size(), r.planes.size(), outputs);
  if (r.outputs.size() != 1 || r.crtcs.size() != 1 || r.crtcs[0].id != own.crtc_id) fail("the lessee sees more than its lease");
  hd::State other_state;
  other_state.planes.push_back(full_screen(other.primary, other.crtc_id, pattern_buffer(**d, own.mode, Pattern::C)));
  if (auto c = (*d)->commit(other_state, hd::kTestOnly); c) fail("the lessee could commit to {}", other.output->name);
  else say("lessee commit to {} refused errno={} ({})", other.output->name, c.error().err, c.error().what);

  hd::State s;
  s.planes.push_back(full_screen(own.primary, own.crtc_id, pattern_buffer(**d, own.mode, Pattern::C)));
  commit_or_fail(**d, s, hd::kNonblock | hd::kPageFlipEvent, 0xc0ffee, "lessee flip");
  const auto ev = wait_flips(**d, 1);
  say("lessee flipped {} to pattern C: event crtc={} sequence={} user_data={:#x}", own.output->name, ev[0].crtc_id,
      ev[0].sequence, ev[0].user_data);
  const auto n = (*d)->counters();
  say("lessee counters tests={} commits={} refused={} allow_modeset={} events={}", n.tests, n.commits, n.refused,
      n.with_allow_modeset, n.events);
  char byte = 1;
  if (::send(sock, &byte, 1, MSG_NOSIGNAL) != 1) return 1;
  (void)!::recv(sock, &byte, 1, 0);  // 0 when the parent closes it: the lease ends with this process
  return 0;
}

}  // namespace

int main() {
  spdlog::set_pattern("kms-probe: %l: %v");
  // /init loaded virtio-gpu; its card appears when the driver has probed.
  for (int i = 0; i < 200 && !std::filesystem::exists("/dev/dri/card0"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto opened = KmsDisplay::open("/dev/dri/card0");
  if (!opened) fail("{}", opened.error());
  KmsDisplay& card = **opened;
  const hd::Resources& res = card.resources();
  say("opened {}: outputs={} crtcs={} planes={} cursor={}x{} async={}", card.name(), res.outputs.size(), res.crtcs.size(),
      res.planes.size(), res.cursor_width, res.cursor_height, res.async_page_flip);
  for (const hd::OutputInfo& o : res.outputs)
    say("output {} connected={} modes={} possible_crtcs={:#x}", o.name, o.connected, o.modes.size(), o.possible_crtcs);
  for (const hd::PlaneInfo& p : res.planes)
    say("plane {} type={} possible_crtcs={:#x} formats={}", p.id, kPlaneTypes[static_cast<int>(p.type)],
        p.possible_crtcs, p.formats.size());

  const std::vector<Route> r = routes(res, 2);
  hd::State s;
  const Pattern patterns[] = {Pattern::A, Pattern::B};
  for (size_t i = 0; i < r.size(); ++i) {
    s.crtcs.push_back(hd::CrtcState{r[i].crtc_id, true, r[i].mode, r[i].output->connector_id});
    s.planes.push_back(full_screen(r[i].primary, r[i].crtc_id, pattern_buffer(card, r[i].mode, patterns[i])));
  }
  commit_or_fail(card, s, hd::kAllowModeset | hd::kPageFlipEvent, 1, "modeset");
  wait_flips(card, 2);
  for (size_t i = 0; i < r.size(); ++i)
    say("shows {} on head {} output {} crtc {} mode {}x{}", vgd::kmstest::pattern_name(patterns[i]), i,
        r[i].output->name, r[i].crtc_id, r[i].mode.width, r[i].mode.height);
  probe_vblanks(card, r[0]);
  const uint32_t index0 = res.crtc(r[0].crtc_id)->index;
  const int wait = kernel_answer_for_wait_vblank(card.event_fd(), index0);
  say("kernel answers WAIT_VBLANK with an event on crtc {}: errno={} ({})", r[0].crtc_id, wait,
      wait ? std::strerror(wait) : "queued");
  say("step modeset shown");
  wait_line("lease");

  // The lessee process exists before the lease does: it gets the fd only over the socket.
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) fail("socketpair: {}", std::strerror(errno));
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(sv[0]);
    ::close(card.event_fd());  // the card's master fd: the child has only what the lease gives
    std::_Exit(lessee(sv[1], r[1], r[0]));
  }
  ::close(sv[1]);
  const vgd::UniqueFd sock(sv[0]);

  std::vector<uint32_t> planes = {r[1].primary};
  if (r[1].cursor) planes.push_back(r[1].cursor);
  auto lease = card.create_lease(r[1].output->connector_id, r[1].crtc_id, planes);
  if (!lease) fail("{}", lease.error().what);
  const auto listed = card.lessees();
  say("leased {} (connector {}, crtc {}, {} planes) to lessee {}; lessees listed={}", r[1].output->name,
      r[1].output->connector_id, r[1].crtc_id, planes.size(), lease->lessee_id, listed ? listed->size() : 0);

  hd::State master_try;
  master_try.planes.push_back(full_screen(r[1].primary, r[1].crtc_id, s.planes[0].buffer));
  if (auto c = card.commit(master_try, hd::kTestOnly); c) fail("the master could commit to the leased CRTC");
  else say("master commit to leased crtc {} refused errno={} ({})", r[1].crtc_id, c.error().err, c.error().what);
  const int kernel = kernel_answer_for_leased(card.event_fd(), r[1].primary, s.planes[0].buffer->fb_id());
  say("kernel answers the owner's test on leased plane {}: errno={} ({})", r[1].primary, kernel,
      kernel ? std::strerror(kernel) : "accepted: the lessor is not stopped by the kernel");

  const std::byte tag[1] = {std::byte{'L'}};
  const int lease_fd = lease->fd.get();
  if (vgd::send_with_fds(sock.get(), tag, std::span(&lease_fd, 1)) != 1) fail("sending the lease: {}", std::strerror(errno));
  lease->fd.reset();  // only the lessee holds it now
  char byte = 0;
  if (::recv(sock.get(), &byte, 1, 0) != 1) fail("the lessee ended early");
  say("step lessee shown");
  wait_line("end the lease");
  ::shutdown(sock.get(), SHUT_RDWR);
  int status = 0;
  ::waitpid(child, &status, 0);
  const auto after = card.lessees();
  say("lessee exited status={}; lessees listed={}", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
      after ? after->size() : 0);
  const auto n = card.counters();
  say("master counters tests={} commits={} refused={} allow_modeset={} events={}", n.tests, n.commits, n.refused,
      n.with_allow_modeset, n.events);
  say("done");
  return 0;
}
