#include "server/host.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "decode/decoder.h"

namespace vgd::server {
namespace {

void copy_name(char* dst, size_t cap, std::string_view s) {
  std::memcpy(dst, s.data(), std::min(cap - 1, s.size()));
}

proto::Tearing wire_tearing(TearingMode m) {
  switch (m) {
    case TearingMode::None: return proto::Tearing::None;
    case TearingMode::Hold: return proto::Tearing::Hold;
    case TearingMode::Copy: return proto::Tearing::Copy;
  }
  return proto::Tearing::None;
}

UniqueFd make_eventfd() { return UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)); }

// How often a vGPU's counters reach the dashboard: at vblank, at most this often; from the
// vblank thread's idle wake-ups for a vGPU without vblanks.
constexpr uint64_t kPublishNs = 100'000'000;
constexpr int kIdleWakeMs = 250;

// A vblank thread per CPU (at most 4), never more than there are vGPUs: one thread emulating 64
// vblanks that fall due together makes the last wait for the other 63 (docs/design.md).
unsigned vblank_lanes(size_t vgpus) {
  const unsigned cpus = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  return static_cast<unsigned>(std::clamp<size_t>(vgpus, 1, cpus));
}

}  // namespace

void InterruptIdle::idle() {
  if (abandon_->load(std::memory_order_relaxed)) return;
  pollfd p{msi_.get(), POLLIN, 0};
  if (::poll(&p, 1, 50) > 0) {
    uint64_t n;
    (void)!::read(msi_.get(), &n, sizeof n);
  }
}

// --- one vGPU ------------------------------------------------------------------------------------

HostedVgpu::HostedVgpu(Vgpu& v, const VgpuSpec& spec, const exporter::ExporterOptions& ex,
                       const display::VblankClock& clock, const GpuGeometry& geometry, const std::atomic<bool>& abandon,
                       std::vector<HostedVgpu*>& due)
    : id_(v.id()),
      spec_(spec),
      clock_(&clock),
      vgpu_(&v),
      msi_(make_eventfd()),
      port_(lock_, v, spec, ex, clock) {
  const Locked lk(lock_);
  lock_.set_job([this]() NO_THREAD_SAFETY_ANALYSIS { run_posted(); });  // the job runs with lock_ held
  v.set_tick_handler([this, &due](uint64_t deadline) {  // on the vblank thread, inside its dispatch
    on_tick(deadline);
    due.push_back(this);
  });
  // The port shares lock_, held here (the analysis cannot tell the two references apart); the
  // follower runs inside replace_ram, under lock_.
  [this]() NO_THREAD_SAFETY_ANALYSIS {
    port_.set_ram_follower([this](bool) NO_THREAD_SAFETY_ANALYSIS { renew_link(); });
  }();
  if (!spec.vm()) {
    idle_ = std::make_unique<InterruptIdle>(UniqueFd(::dup(msi_.fd())), abandon);
    v.set_interrupt_sink(&msi_);
    session_ = std::make_unique<GuestSession>(std::make_unique<InProcessGuest>(v, geometry, idle_.get(), &lock_),
                                              spec.workload, spec.mode, 600);  // a mode switch after about ten seconds
    session_->set_hold(spec.hold_frame);
  }
  publish(0, 0);
}

Expected<UniqueFd, HostedVgpu::AttachError> HostedVgpu::attach_vm() {
  using proto::Status;
  if (!spec_.vm())
    return Unexpected(AttachError{Status::Invalid, fmt::format("vGPU {} runs a builtin guest, not a VM", id_)});
  const Locked lk(vm_mu_);
  if (vm_attached()) return Unexpected(AttachError{Status::Busy, fmt::format("vGPU {} already has a VM", id_)});
  vm_.reset();  // the previous VM's link, whose session has ended
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return Unexpected(AttachError{Status::Again, fmt::format("socketpair: {}", std::strerror(errno))});
  UniqueFd ours(sv[0]), theirs(sv[1]);
  vm_attached_.store(true, std::memory_order_release);
  {
    const Locked info(vm_info_mu_);
    ++vm_attaches_;
  }
  vm_ = std::make_unique<VmLink>(lock_, vgpu_for_lock_holders(), std::move(ours), fmt::format("vgpu {} vm", id_),
                                 [this](const remote::Detach& d) { vm_detached(d); });
  spdlog::info("vgpu {}: a VM attaches", id_);
  return theirs;
}


HostedVgpu::~HostedVgpu() {
  const Locked lk(lock_);
  link_.reset();  // DisplayLinks ended it already; this is for a Host that failed half-way
  vgpu_->set_tick_handler({});
  vgpu_->set_interrupt_sink(nullptr);
}

void HostedVgpu::set_link(std::unique_ptr<directflip::PipeLink> link, std::string output, DisplayLinks* links) {
  link_ = std::move(link);
  link_output_ = std::move(output);
  link_owner_ = links;
  publish(0, 0);
}

void HostedVgpu::renew_link() {
  if (!link_ || !link_owner_) return;
  // Every frame it built was committed, deferred, refused or failed (and a view counts when
  // made): with none of these it holds nothing of any RAM and stays as it is.
  const directflip::LinkCounters& c = link_->counters();
  if ((c.frames | c.busy_deferrals | c.refused | c.failed_frames | c.surface_maps) == 0) return;
  directflip::OutputPlanes planes = link_->planes();
  planes.needs_bringup = false;  // the link it replaces lit the output, which stays lit
  const hw::Pipe pipe = link_->pipe();
  link_.reset();  // planes off: its imports and views of the old RAM go with it
  auto fresh = directflip::PipeLink::create(*vgpu_, pipe, link_owner_->display(), planes);
  link_owner_->count_renewal(!fresh);
  if (fresh) {
    link_ = std::move(*fresh);
    spdlog::info("direct flip: vGPU {} pipe {}: guest RAM replaced, its link on output {} made anew (nothing of the "
                 "old RAM kept)", id_, hw::letter(pipe), link_output_);
  } else {
    spdlog::error("direct flip: vGPU {} pipe {}: guest RAM replaced and its link on output {} could not be made "
                  "anew: {}; the output stays dark until the vGPU is unassigned and assigned again",
                  id_, hw::letter(pipe), link_output_, fresh.error());
  }
  publish(0, 0);
}

void HostedVgpu::on_tick(uint64_t deadline_ns) {
  // A deadline still pending means the previous vblank never ran: the lock was busy for a whole
  // period. It is superseded (one vblank per dispatch, as the clock does for late dispatches).
  if (due_ns_.exchange(deadline_ns, std::memory_order_acq_rel) != 0) late_.fetch_add(1, std::memory_order_relaxed);
}

void HostedVgpu::run_posted() {
  const uint64_t deadline = due_ns_.exchange(0, std::memory_order_acq_rel);
  const uint64_t now = clock_->now_ns();
  if (deadline != 0) {
    dispatch_delay_.record(now > deadline ? now - deadline : 0);
    vgpu_->vblank_at(deadline);
  }
  const bool wanted = publish_wanted_.exchange(false, std::memory_order_acq_rel);
  publish(now, wanted ? 0 : kPublishNs);
}

void HostedVgpu::vm_detached(const remote::Detach& d) {
  {
    const Locked info(vm_info_mu_);
    ++vm_detaches_.at(static_cast<size_t>(d.reason));
    vm_last_detach_ = d.detail.empty() ? std::string(remote::reason_name(d.reason))
                                       : fmt::format("{}: {}", remote::reason_name(d.reason), d.detail);
  }
  vm_attached_.store(false, std::memory_order_release);
  request_publish();  // the dashboard hears of it now, not at the next idle tick
}

std::optional<VmStatus> HostedVgpu::vm_status() const {
  if (!spec_.vm()) return std::nullopt;
  VmStatus s;
  s.attached = vm_attached();
  const Locked info(vm_info_mu_);
  s.attaches = vm_attaches_;
  for (size_t r = 0; r < vm_detaches_.size(); ++r)
    s.detaches.push_back({remote::reason_name(static_cast<remote::DetachReason>(r)), vm_detaches_[r]});
  s.last_detach = vm_last_detach_;
  return s;
}

proto::VgpuEntry HostedVgpu::describe() const {
  const Vgpu& g = *vgpu_;
  proto::VgpuEntry e;
  e.id = g.id();
  copy_name(e.type, sizeof e.type, g.type().name);
  copy_name(e.workload, sizeof e.workload, spec_.guest_name());
  e.tearing = static_cast<uint32_t>(wire_tearing(spec_.tearing));
  const auto pipe = decode::first_active_pipe(g.vregs());
  if (pipe) {
    const auto s = decode::snapshot(g.vregs(), *pipe);
    e.width = hw::trans::kSrcWidth.get(s.pipesrc) + 1;
    e.height = hw::trans::kSrcHeight.get(s.pipesrc) + 1;
    e.refresh_mhz = g.display().refresh_mhz();
  }
  using proto::VgpuState;
  const VgpuState st = g.failsafe()                   ? VgpuState::Failsafe
                       : spec_.vm() && !vm_attached() ? VgpuState::NoVm
                       : session_ && !session_->ok()  ? VgpuState::GuestFailed
                       : !pipe                        ? VgpuState::DisplayOff
                                                      : VgpuState::Running;
  e.state = static_cast<uint32_t>(st);
  return e;
}

VgpuStatus HostedVgpu::read_status() const {
  const Vgpu& g = *vgpu_;
  const proto::VgpuEntry e = describe();
  VgpuStatus s;
  s.id = g.id();
  s.type = g.type().name;
  s.workload = std::string(spec_.guest_name());
  s.vm = vm_status();
  s.state = std::string(state_name(e.state));
  if (const auto r = g.failsafe_reason()) s.failsafe_reason = vgd::describe(*r);
  s.tearing = std::string(name(spec_.tearing));
  s.pv_aware = g.pv_aware();
  s.damage_hints = g.display().damage_hints();
  s.width = e.width, s.height = e.height, s.refresh_mhz = e.refresh_mhz;
  const display::DisplayStats& d = g.display().stats();
  for (size_t p = 0; p < hw::kPipeCount; ++p) {
    s.vblanks += d.vblanks[p];
    for (size_t pl = 0; pl < hw::kPlaneCount; ++pl) s.flips[pl] += d.flips[p][pl];
  }
  s.interrupts = g.interrupts_raised();
  s.resets = g.resets();
  PortCounters pc = port_counters();
  s.events = pc.events;
  s.event_consumers = pc.event_consumers;
  s.event_latency = std::move(pc.event_latency);
  s.exporter = pc.exporter;
  s.tearing_counters = pc.tearing;
  s.mmio = g.mmio_stats();
  s.counters = g.counters();
  s.attacks = g.counters().attacks + g.mmio_stats().attacks + pc.decode_attacks;
  s.dispatch_delay = dispatch_delay_;
  s.late_vblanks = late_.load(std::memory_order_relaxed);
  s.missed_vblanks = g.missed_vblanks();
  if (link_) {
    s.direct_flip = DirectFlipStatus{link_output_, hw::letter(link_->pipe()), link_->counters(),
                                     link_->clock().host() ? "host" : "own", link_->clock().why()};
    if (const auto c = link_->host_cursor()) {
      const hostdisplay::Hotspot hot = c->hotspot.value_or(hostdisplay::Hotspot{});
      s.direct_flip->cursor = HostCursorStatus{c->crtc_x, c->crtc_y, c->crtc_w, c->crtc_h, hot.x, hot.y};
    }
  }
  return s;
}

PortCounters HostedVgpu::port_counters() const NO_THREAD_SAFETY_ANALYSIS {
  return port_.counters();  // the port shares lock_, which the caller holds
}

void HostedVgpu::publish(uint64_t now_ns, uint64_t min_age_ns) {
  if (min_age_ns != 0 && now_ns - published_ns_ < min_age_ns) return;
  published_ns_ = now_ns;
  VgpuStatus s = read_status();
  const Locked lk(published_mu_);
  published_ = std::move(s);
}

VgpuStatus HostedVgpu::published() const {
  const Locked lk(published_mu_);
  return published_;
}

// --- the host ------------------------------------------------------------------------------------

Expected<std::unique_ptr<Host>, std::string> Host::create(const DaemonConfig& cfg) {
  std::unique_ptr<Host> h(new Host());
  std::vector<display::VblankClock*> clocks;
  for (unsigned i = 0; i < vblank_lanes(cfg.vgpus.size()); ++i) {
    auto clock = display::RealClock::create();
    if (!clock) return Unexpected(clock.error());
    clocks.push_back(clock->get());
    h->lanes_.push_back(std::make_unique<VblankLane>(VblankLane{std::move(*clock), {}, {}}));
  }
  auto gpu = Gpu::create(cfg.gpu);
  if (!gpu) return Unexpected(gpu.error());
  h->gpu_ = std::move(*gpu);
  h->gpu_->set_vblank_clocks(std::move(clocks));
  exporter::ExporterOptions ex;
  ex.idle_capacity = cfg.idle_buffers;
  ex.udmabuf = cfg.udmabuf;
  for (size_t i = 0; i < cfg.vgpus.size(); ++i) {
    const VgpuSpec& spec = cfg.vgpus[i];
    // A QEMU VM brings its RAM when it attaches (docs/vm.md); a builtin guest gets ours.
    auto ram = spec.vm() ? GuestRam::none() : GuestRam::create(spec.ram, fmt::format("vm{}-ram", i + 1));
    if (!ram) return Unexpected(ram.error());
    auto v = h->gpu_->create_vgpu(spec.type, std::move(*ram));
    if (!v) return Unexpected(fmt::format("vGPU {} ({}): {}", i + 1, spec.type, v.error().message));
    (*v)->offer_damage_hints(spec.damage_hints);
    if (spec.tearing != TearingMode::None) spdlog::info("vGPU {}: tearing control '{}'", (*v)->id(), name(spec.tearing));
    VblankLane& lane = h->lane_of(**v);
    h->hosted_.push_back(
        std::make_unique<HostedVgpu>(**v, spec, ex, *lane.clock, h->gpu_->geometry(), h->abandon_, lane.due));
  }
  if (cfg.host_display.backend != HostDisplayConfig::Backend::None) {
    auto links = DisplayLinks::open(cfg.host_display);
    if (!links) return Unexpected(links.error());
    h->links_ = std::move(*links);
    for (size_t i = 0; i < cfg.vgpus.size(); ++i) {
      const auto& d = cfg.vgpus[i].direct_flip;
      if (!d) continue;
      auto a = h->links_->assign(*h->hosted_[i], d->pipe, d->output, DisplayLinks::kConfigOwner);
      if (!a) return Unexpected(fmt::format("vGPU {} direct_flip: {}", h->hosted_[i]->id(), a.error().message));
    }
  }
  h->wake_ = make_eventfd();
  if (!h->wake_) return Unexpected(fmt::format("eventfd: {}", std::strerror(errno)));
  for (auto& lane : h->lanes_) lane->thread = std::thread([p = h.get(), l = lane.get()] { p->vblank_loop(*l); });
  return h;
}

Host::~Host() {
  if (links_) links_->release_all();  // planes off, gates removed, before any vGPU goes
  stop_guests();
  const uint64_t one = 1;  // the eventfd stays readable: it ends every lane
  (void)!::write(wake_.get(), &one, sizeof one);
  for (auto& lane : lanes_)
    if (lane->thread.joinable()) lane->thread.join();
}

Host::VblankLane& Host::lane_of(const Vgpu& v) {
  for (auto& lane : lanes_)
    if (lane->clock.get() == v.vblank_clock()) return *lane;
  return *lanes_.front();  // unreachable: the GPU only hands out the clocks it was given
}

std::vector<std::thread*> Host::vblank_threads() {
  std::vector<std::thread*> t;
  for (auto& lane : lanes_) t.push_back(&lane->thread);
  return t;
}

void Host::vblank_loop(VblankLane& lane) {
  pthread_setname_np(pthread_self(), "vblank");
  sigset_t all;  // signals are the server loop's (its signalfd), never this thread's
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  // The device's timer: it only records deadlines and posts (or runs) vblanks of a few µs, so a
  // real-time priority costs the guests nothing and keeps a busy machine from delaying every
  // vGPU's vblank behind them. Without the privilege it runs as any thread.
  const sched_param rt{1};
  if (const int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt); e != 0)
    spdlog::info("vblank thread: no real-time priority ({}); vblanks wait for a CPU like any thread", std::strerror(e));
  pollfd fds[2] = {{lane.clock->fd(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
  auto last_idle = std::chrono::steady_clock::now();
  for (;;) {
    const int n = ::poll(fds, 2, kIdleWakeMs);
    if (n < 0 && errno != EINTR) {
      spdlog::critical("vblank thread: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    if (fds[0].revents) {
      lane.due.clear();
      lane.clock->dispatch();  // the vGPUs' tick handlers fill lane.due
      for (HostedVgpu* hv : lane.due) hv->post_due();
    }
    // vGPUs whose display is off have no vblank to publish their counters at.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_idle >= std::chrono::milliseconds(kIdleWakeMs)) {
      last_idle = now;
      for (auto& hv : hosted_)
        if (hv->clock() == lane.clock.get()) hv->request_publish();
    }
  }
}

void Host::start_guests() {
  stopping_ = false;
  abandon_ = false;
  for (auto& hv : hosted_) {
    if (!hv->builtin() || hv->thread().joinable()) continue;
    ++running_;
    hv->thread() = std::thread([this, s = &hv->session()] {
      s->boot();
      while (!stopping_.load(std::memory_order_relaxed) && s->frame()) {
      }
      --running_;
    });
  }
}

void Host::stop_guests() {
  // Guests finish the frame they are in, which needs vblanks: the vblank thread keeps ticking,
  // for up to two seconds, then their waits give up.
  stopping_ = true;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (running_ > 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  abandon_ = true;
  for (auto& hv : hosted_)
    if (hv->thread().joinable()) hv->thread().join();
}

HostedVgpu* Host::find(uint32_t id) {
  for (auto& hv : hosted_)
    if (hv->id() == id) return hv.get();
  return nullptr;
}

}  // namespace vgd::server
