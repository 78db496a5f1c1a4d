#include "server/host.h"

#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>

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

}  // namespace

void InterruptIdle::idle() {
  if (abandon_->load(std::memory_order_relaxed)) return;
  pollfd p{msi_.get(), POLLIN, 0};
  if (::poll(&p, 1, 50) > 0) {
    uint64_t n;
    (void)!::read(msi_.get(), &n, sizeof n);
  }
}

Expected<std::unique_ptr<Host>, std::string> Host::create(const DaemonConfig& cfg) {
  std::unique_ptr<Host> h(new Host());
  auto clock = display::RealClock::create();
  if (!clock) return Unexpected(clock.error());
  h->clock_ = std::move(*clock);
  auto gpu = Gpu::create(cfg.gpu);
  if (!gpu) return Unexpected(gpu.error());
  h->gpu_ = std::move(*gpu);
  h->gpu_->set_vblank_clock(h->clock_.get());
  for (size_t i = 0; i < cfg.vgpus.size(); ++i) {
    const VgpuSpec& spec = cfg.vgpus[i];
    auto ram = GuestRam::create(spec.ram, fmt::format("vm{}-ram", i + 1));
    if (!ram) return Unexpected(ram.error());
    auto v = h->gpu_->create_vgpu(spec.type, std::move(*ram));
    if (!v) return Unexpected(fmt::format("vGPU {} ({}): {}", i + 1, spec.type, v.error().message));
    UniqueFd msi(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!msi) return Unexpected(fmt::format("eventfd: {}", std::strerror(errno)));
    auto hv = std::make_unique<HostedVgpu>();
    hv->vgpu = *v;
    hv->spec = spec;
    exporter::ExporterOptions ex;
    ex.idle_capacity = cfg.idle_buffers;
    ex.udmabuf = cfg.udmabuf;
    hv->exporter = std::make_unique<exporter::Exporter>(std::weak_ptr<const GuestRam>(hv->vgpu->ram_ref()), ex);
    hv->events = std::make_unique<events::VgpuEvents>(*hv->vgpu);
    if (spec.tearing != TearingMode::None) spdlog::info("vGPU {}: tearing control '{}'", hv->vgpu->id(), name(spec.tearing));
    if (spec.tearing == TearingMode::Hold) {
      hv->hold = std::make_unique<exporter::HoldGate>(*hv->exporter, [c = h->clock_.get()] { return c->now_ns(); });
      hv->vgpu->set_flip_done_gate(hv->hold.get(), exporter::kHoldVblanks);
    } else if (spec.tearing == TearingMode::Copy) {
      hv->shadows = std::make_unique<exporter::ShadowFrames>(std::weak_ptr<const GuestRam>(hv->vgpu->ram_ref()), hv->vgpu->type(), spec.copy_budget);
      hv->vgpu->set_latch_listener(
          [s = hv->shadows.get()](Vgpu& g, const display::VblankReport& r) { s->on_vblank(g, r); });
    }
    hv->msi = std::make_unique<display::EventfdSink>(UniqueFd(::dup(msi.get())));
    hv->vgpu->set_interrupt_sink(hv->msi.get());
    hv->idle = std::make_unique<InterruptIdle>(std::move(msi), h->abandon_);
    hv->session = std::make_unique<GuestSession>(
        std::make_unique<InProcessGuest>(*hv->vgpu, h->gpu_->geometry(), hv->idle.get(), &h->mu_), spec.workload,
        spec.mode, 600);  // a mode switch after about ten seconds
    h->hosted_.push_back(std::move(hv));
  }
  return h;
}

Host::~Host() {
  stop_guests();
  const std::lock_guard lk(mu_);
  for (auto& hv : hosted_) {
    hv->vgpu->set_interrupt_sink(nullptr);
    hv->vgpu->set_flip_done_gate(nullptr, exporter::kHoldVblanks);  // before the gate goes
    hv->vgpu->set_latch_listener({});
  }
  hosted_.clear();  // events detach from their vGPUs
  gpu_.reset();
}

void Host::start_guests() {
  stopping_ = false;
  abandon_ = false;
  for (auto& hv : hosted_) {
    if (hv->thread.joinable()) continue;
    ++running_;
    hv->thread = std::thread([this, s = hv->session.get()] {
      s->boot();
      while (!stopping_.load(std::memory_order_relaxed) && s->frame()) {
      }
      --running_;
    });
  }
}

void Host::stop_guests() {
  // Guests finish the frame they are in, which needs vblanks: keep the clock going meanwhile,
  // for up to two seconds, then let their waits give up.
  stopping_ = true;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (running_ > 0 && std::chrono::steady_clock::now() < give_up) {
    pollfd p{clock_->fd(), POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      const std::lock_guard lk(mu_);
      clock_->dispatch();
    }
  }
  abandon_ = true;
  for (auto& hv : hosted_)
    if (hv->thread.joinable()) hv->thread.join();
}

exporter::TearingCounters HostedVgpu::tearing() const {
  exporter::TearingCounters c = shadows ? shadows->counters() : exporter::TearingCounters{};
  if (hold) {
    const exporter::TearingCounters& h = hold->counters();
    c.held = h.held, c.hold_timeouts = h.hold_timeouts, c.hold_ns_total = h.hold_ns_total, c.hold_ns_max = h.hold_ns_max;
  }
  return c;
}

HostedVgpu* Host::find(uint32_t id) {
  for (auto& hv : hosted_)
    if (hv->vgpu->id() == id) return hv.get();
  return nullptr;
}

proto::VgpuEntry Host::describe(const HostedVgpu& h) const {
  proto::VgpuEntry e;
  e.id = h.vgpu->id();
  copy_name(e.type, sizeof e.type, h.vgpu->type().name);
  copy_name(e.workload, sizeof e.workload, name(h.spec.workload));
  e.tearing = static_cast<uint32_t>(wire_tearing(h.spec.tearing));
  const auto pipe = decode::first_active_pipe(h.vgpu->vregs());
  if (pipe) {
    const auto s = decode::snapshot(h.vgpu->vregs(), *pipe);
    e.width = hw::trans::kSrcWidth.get(s.pipesrc) + 1;
    e.height = hw::trans::kSrcHeight.get(s.pipesrc) + 1;
    e.refresh_mhz = h.vgpu->display().refresh_mhz();
  }
  using proto::VgpuState;
  const VgpuState st = h.vgpu->failsafe()        ? VgpuState::Failsafe
                       : !h.session->ok()         ? VgpuState::GuestFailed
                       : !pipe                    ? VgpuState::DisplayOff
                                                  : VgpuState::Running;
  e.state = static_cast<uint32_t>(st);
  return e;
}

}  // namespace vgd::server
