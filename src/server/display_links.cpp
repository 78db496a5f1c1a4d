#include "server/display_links.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "directflip/pipe_link.h"
#include "server/host.h"
#ifdef VGD_HAVE_KMS
#include "hostdisplay/kms_display.h"
#endif

namespace vgd::server {
namespace {

using Why = LinkRefusal::Why;

Expected<std::unique_ptr<hostdisplay::HostDisplay>, std::string> open_kms(const HostDisplayConfig& cfg) {
#ifdef VGD_HAVE_KMS
  if (cfg.lease_fd >= 0) {
    // The fd is ours from here on: KmsDisplay closes it.
    auto d = hostdisplay::KmsDisplay::adopt(UniqueFd(cfg.lease_fd), fmt::format("lease fd {}", cfg.lease_fd));
    if (!d) return Unexpected(fmt::format("host_display lease_fd {}: {}", cfg.lease_fd, d.error()));
    return std::unique_ptr<hostdisplay::HostDisplay>(std::move(*d));
  }
  auto d = hostdisplay::KmsDisplay::open(cfg.card);
  if (!d) return Unexpected(fmt::format("host_display card {}: {}", cfg.card, d.error()));
  return std::unique_ptr<hostdisplay::HostDisplay>(std::move(*d));
#else
  (void)cfg;
  return Unexpected(std::string("host_display backend kms: this vgpud was built without libdrm (libdrm-dev)"));
#endif
}

hostdisplay::Mode virtual_mode(const VirtualOutputConfig& o) {
  return {o.width, o.height, o.refresh_hz * 1000, fmt::format("{}x{}", o.width, o.height), true, {}};
}

}  // namespace

Expected<std::unique_ptr<DisplayLinks>, std::string> DisplayLinks::open(const HostDisplayConfig& cfg) {
  std::unique_ptr<hostdisplay::HostDisplay> display;
  hostdisplay::VirtualMonitor* vmon = nullptr;
  if (cfg.backend == HostDisplayConfig::Backend::Kms) {
    auto d = open_kms(cfg);
    if (!d) return Unexpected(d.error());
    display = std::move(*d);
  } else {
    hostdisplay::VirtualMonitorOptions o;
    const auto outs = cfg.outputs.empty() ? default_virtual_outputs() : cfg.outputs;
    o.outputs = static_cast<uint32_t>(outs.size());
    for (const VirtualOutputConfig& v : outs) o.preferred.push_back(virtual_mode(v));
    o.clock = hostdisplay::VirtualMonitorOptions::Clock::Real;
    o.clock_thread = true;
    // Its clock thread inherits this mask: signals are the server loop's (its signalfd), and a
    // SIGTERM taken by that thread would kill the daemon without its shutdown.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    auto m = hostdisplay::VirtualMonitor::create(std::move(o));
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (!m) return Unexpected(fmt::format("host_display (virtual monitor): {}", m.error()));
    vmon = m->get();
    display = std::move(*m);
  }
  UniqueFd stop(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!stop) return Unexpected(fmt::format("eventfd: {}", std::strerror(errno)));
  std::unique_ptr<DisplayLinks> l(new DisplayLinks(std::move(display), vmon, std::move(stop)));
  const auto res = l->display_.resources_copy();
  spdlog::info("host display {}: {} outputs; direct flip available", l->name(), res.outputs.size());
  return l;
}

DisplayLinks::DisplayLinks(std::unique_ptr<hostdisplay::HostDisplay> display, hostdisplay::VirtualMonitor* vmon, UniqueFd stop)
    : owned_(std::move(display)), vmon_(vmon), display_(*owned_), stop_(std::move(stop)) {
  thread_ = std::thread([this] { event_loop(); });
}

DisplayLinks::~DisplayLinks() { release_all(); }

void DisplayLinks::event_loop() {
  pthread_setname_np(pthread_self(), "host-display");
  sigset_t all;  // signals are the server loop's
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  pollfd fds[2] = {{display_.event_fd(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("host display {}: poll: {}", name(), std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    if (!fds[0].revents) continue;
    // Collected under the display's lock, in order (a vblank before the flips latched at it),
    // handed out after it: on_flip commits.
    std::vector<Event> events;
    display_.dispatch(hostdisplay::EventHandlers{[&](const hostdisplay::FlipEvent& e) { events.emplace_back(e); },
                                                 [&](const hostdisplay::VblankEvent& e) { events.emplace_back(e); }});
    route(events);
  }
}

void DisplayLinks::route(const std::vector<Event>& events) {
  if (events.empty()) return;
  const Locked lk(mu_);
  for (const Event& ev : events) {
    const uint32_t crtc = std::visit([](const auto& e) { return e.crtc_id; }, ev);
    const auto it = std::find_if(assigned_.begin(), assigned_.end(), [&](const auto& a) { return a.second.planes.crtc_id == crtc; });
    if (it == assigned_.end()) {
      ++stats_.unrouted;
      continue;
    }
    const auto* flip = std::get_if<hostdisplay::FlipEvent>(&ev);
    ++(flip ? stats_.events : stats_.vblanks);
    HostedVgpu& hv = *it->second.hv;
    const Locked v(hv.lock());
    directflip::PipeLink* link = hv.link();
    if (!link) continue;
    if (flip)
      link->on_flip(*flip);
    else
      link->on_host_vblank(std::get<hostdisplay::VblankEvent>(ev));
  }
}

OutputStatus DisplayLinks::describe(const hostdisplay::Resources& r, const hostdisplay::OutputInfo& o) const {
  OutputStatus s;
  s.name = o.name;
  s.connected = o.connected;
  s.crtc = o.crtc_id;
  const hostdisplay::CrtcInfo* crtc = o.crtc_id ? r.crtc(o.crtc_id) : nullptr;
  std::optional<hostdisplay::Mode> mode = crtc && crtc->active ? crtc->mode : std::nullopt;
  if (!mode && !o.modes.empty()) {
    const auto p = std::find_if(o.modes.begin(), o.modes.end(), [](const hostdisplay::Mode& m) { return m.preferred; });
    mode = p != o.modes.end() ? *p : o.modes.front();
  }
  if (mode) s.width = mode->width, s.height = mode->height, s.refresh_mhz = mode->refresh_mhz;
  if (const auto a = assigned_.find(o.name); a != assigned_.end()) {
    s.vgpu = a->second.hv->id();
    s.pipe = a->second.pipe;
    s.by_config = a->second.owner == kConfigOwner;
    s.crtc = a->second.planes.crtc_id;
  }
  if (const auto l = leased_.find(o.name); l != leased_.end()) {
    s.lessee = l->second.lessee;
    s.crtc = l->second.objects.front();
    s.width = l->second.mode.width, s.height = l->second.mode.height, s.refresh_mhz = l->second.mode.refresh_mhz;
  }
  return s;
}

std::vector<OutputStatus> DisplayLinks::outputs() const {
  const hostdisplay::Resources r = display_.resources_copy();
  const Locked lk(mu_);
  prune_leases();
  std::vector<OutputStatus> out;
  for (const hostdisplay::OutputInfo& o : r.outputs) out.push_back(describe(r, o));
  return out;
}

std::vector<std::pair<std::string, uint32_t>> DisplayLinks::output_crtcs() const {
  const hostdisplay::Resources r = display_.resources_copy();
  std::vector<std::pair<std::string, uint32_t>> out;
  for (const hostdisplay::OutputInfo& o : r.outputs) {
    uint32_t crtc = o.crtc_id;
    for (size_t i = 0; !crtc && i < r.crtcs.size(); ++i)
      if (o.possible_crtcs & (1u << r.crtcs[i].index)) crtc = r.crtcs[i].id;
    out.emplace_back(o.name, crtc);
  }
  return out;
}

Expected<OutputStatus, LinkRefusal> DisplayLinks::assign(HostedVgpu& hv, hw::Pipe pipe, std::string_view output, uint64_t owner) {
  const hostdisplay::Resources r = display_.resources_copy();
  const Locked lk(mu_);
  const auto refuse = [&](Why why, std::string msg) REQUIRES(mu_) {
    ++stats_.refused;
    return Unexpected(LinkRefusal{why, std::move(msg)});
  };
  const hostdisplay::OutputInfo* out = r.output(output);
  if (!out) {
    std::string names;
    for (const auto& o : r.outputs) names += (names.empty() ? "" : ", ") + o.name;
    return refuse(Why::UnknownOutput, fmt::format("{} has no output {} (it has {})", name(), output, names));
  }
  if (auto busy = taken_output(output)) return refuse(Why::OutputTaken, std::move(*busy));
  for (const auto& [o, a] : assigned_)
    if (a.hv == &hv)
      return refuse(Why::VgpuLinked, fmt::format("vGPU {} pipe {} is already on output {} (one output per vGPU)", hv.id(),
                                                 hw::letter(a.pipe), o));
  auto planes = directflip::choose_planes(r, output, taken());
  if (!planes) return refuse(Why::Failed, fmt::format("output {}: {}", output, planes.error()));
  {
    const Locked v(hv.lock());
    auto link = directflip::PipeLink::create(hv.vgpu(), pipe, display_, *planes);
    if (!link) return refuse(Why::Failed, fmt::format("vGPU {} on output {}: {}", hv.id(), output, link.error()));
    hv.set_link(std::move(*link), std::string(output), this);
  }
  ++stats_.assigns;
  assigned_[std::string(output)] = Assignment{&hv, pipe, owner, *planes};
  spdlog::info("direct flip: vGPU {} pipe {} on {} output {} ({}, {})", hv.id(), hw::letter(pipe), name(), output,
               planes->mode.name, owner == kConfigOwner ? "configured" : fmt::format("for client {}", owner));
  return describe(display_.resources_copy(), *out);
}

std::optional<std::string> DisplayLinks::taken_output(std::string_view output) {
  if (const auto a = assigned_.find(output); a != assigned_.end())
    return fmt::format("output {} already shows vGPU {} pipe {}", output, a->second.hv->id(), hw::letter(a->second.pipe));
  prune_leases();
  if (const auto l = leased_.find(output); l != leased_.end())
    return fmt::format("output {} is leased to lessee {}", output, l->second.lessee);
  return std::nullopt;
}

std::vector<uint32_t> DisplayLinks::taken() const {
  std::vector<uint32_t> ids;
  for (const auto& [o, a] : assigned_)
    for (uint32_t id : {a.planes.crtc_id, a.planes.primary, a.planes.overlay, a.planes.cursor})
      if (id) ids.push_back(id);
  for (const auto& [o, l] : leased_) ids.insert(ids.end(), l.objects.begin(), l.objects.end());
  return ids;
}

Expected<OutputLease, LinkRefusal> DisplayLinks::lease(std::string_view output, uint64_t owner) {
  const hostdisplay::Resources r = display_.resources_copy();
  const Locked lk(mu_);
  const auto refuse = [&](Why why, std::string msg) REQUIRES(mu_) {
    ++stats_.refused;
    spdlog::warn("direct flip: lease of {} refused: {}", output, msg);
    return Unexpected(LinkRefusal{why, std::move(msg)});
  };
  // Asked first, so a display that cannot lease says so whatever the output.
  if (vmon_) return refuse(Why::NotSupported, fmt::format("{} cannot lease outputs (a virtual monitor has no DRM device: "
                                                          "only a KMS card this vgpud is master of can)", name()));
  if (!r.output(output)) return refuse(Why::UnknownOutput, fmt::format("{} has no output {}", name(), output));
  if (auto busy = taken_output(output)) return refuse(Why::OutputTaken, std::move(*busy));
  auto planes = directflip::choose_planes(r, output, taken());
  if (!planes) return refuse(Why::Failed, fmt::format("output {}: {}", output, planes.error()));
  std::vector<uint32_t> held;
  for (uint32_t id : {planes->primary, planes->overlay, planes->cursor})
    if (id) held.push_back(id);
  hostdisplay::BufferRef black;
  if (planes->needs_bringup) {  // the lessee then needs no modeset (and may know no mode)
    auto lit = directflip::light_output(display_, *planes);
    if (!lit) return refuse(Why::Failed, fmt::format("output {}: {}", output, lit.error()));
    black = std::move(*lit);
  }
  auto granted = display_.create_lease(planes->connector_id, planes->crtc_id, held);
  if (!granted)
    return refuse(granted.error().err == EOPNOTSUPP ? Why::NotSupported : Why::Failed,
                  fmt::format("output {}: {}", output, granted.error().what));
  ++stats_.leases;
  Leased l{granted->lessee_id, owner, {planes->crtc_id}, planes->mode, std::move(black)};
  l.objects.insert(l.objects.end(), held.begin(), held.end());
  leased_[std::string(output)] = std::move(l);
  spdlog::info("direct flip: output {} of {} leased to lessee {} (CRTC {}, {} planes, {}) for client {}", output, name(),
               granted->lessee_id, planes->crtc_id, held.size(), planes->mode.name, owner);
  return OutputLease{std::move(granted->fd), granted->lessee_id, planes->connector_id, planes->crtc_id, std::move(held)};
}

void DisplayLinks::prune_leases() const {
  if (leased_.empty()) return;
  const auto live = display_.lessees();
  if (!live) return;
  for (auto it = leased_.begin(); it != leased_.end();) {
    const auto next = std::next(it);
    if (std::find(live->begin(), live->end(), it->second.lessee) == live->end()) {
      spdlog::info("direct flip: lessee {} closed its lease of output {}", it->second.lessee, it->first);
      ++stats_.leases_ended;
      leased_.erase(it);
    }
    it = next;
  }
}

void DisplayLinks::revoke(std::map<std::string, Leased, std::less<>>::iterator it) {
  if (auto r = display_.revoke_lease(it->second.lessee); !r)
    spdlog::info("direct flip: lease of output {}: {}", it->first, r.error());  // it had ended already
  else
    spdlog::info("direct flip: lease of output {} to lessee {} revoked", it->first, it->second.lessee);
  ++stats_.leases_ended;
  leased_.erase(it);
}

void DisplayLinks::end(Table::iterator it) {
  HostedVgpu& hv = *it->second.hv;
  {
    const Locked v(hv.lock());
    hv.set_link(nullptr, {}, nullptr);  // planes off, gate and observer removed
  }
  spdlog::info("direct flip: vGPU {} pipe {} off output {}", hv.id(), hw::letter(it->second.pipe), it->first);
  assigned_.erase(it);
}

Expected<std::string, LinkRefusal> DisplayLinks::unassign(HostedVgpu& hv, hw::Pipe pipe) {
  const Locked lk(mu_);
  const auto it = std::find_if(assigned_.begin(), assigned_.end(), [&](const auto& a) { return a.second.hv == &hv && a.second.pipe == pipe; });
  if (it == assigned_.end()) {
    ++stats_.refused;
    return Unexpected(LinkRefusal{Why::NotAssigned, fmt::format("vGPU {} pipe {} is on no output", hv.id(), hw::letter(pipe))});
  }
  std::string output = it->first;
  end(it);
  ++stats_.unassigns;
  return output;
}

size_t DisplayLinks::release_owner(uint64_t owner) {
  if (owner == kConfigOwner) return 0;
  const Locked lk(mu_);
  size_t n = 0;
  for (auto it = assigned_.begin(); it != assigned_.end();) {
    const auto next = std::next(it);
    if (it->second.owner == owner) {
      end(it);
      ++n;
    }
    it = next;
  }
  stats_.released += n;
  for (auto it = leased_.begin(); it != leased_.end();) {
    const auto next = std::next(it);
    if (it->second.owner == owner) {
      revoke(it);
      ++n;
    }
    it = next;
  }
  return n;
}

void DisplayLinks::release_all() {
  {
    const Locked lk(mu_);
    while (!assigned_.empty()) end(assigned_.begin());
    while (!leased_.empty()) revoke(leased_.begin());
  }
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }
}

DisplayLinkStats DisplayLinks::stats() const {
  const Locked lk(mu_);
  DisplayLinkStats s = stats_;
  s.renewed = renewed_.load(std::memory_order_relaxed);
  s.renew_failed = renew_failed_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace vgd::server
