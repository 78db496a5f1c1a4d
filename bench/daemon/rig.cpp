// daemon_bench's in-process daemon (Rig, with the latency part's probes) and its raw protocol
// client connection (Conn); see common.h.
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "common.h"
#include "display/vblank_clock.h"

namespace vgd::daemon_bench {
namespace {

// Enough graphics memory for 64 guests at 1920x1080: a double-buffered X-tiled XRGB8888 primary
// is 2 × 7.9 MiB, the cursor 16 KiB. 64 × 24 MiB of aperture plus the host's 128 MiB.
GpuConfig bench_gpu() {
  GpuConfig g;
  g.geometry.aperture_size = 1792 * kMiB;
  g.geometry.fence_count = 512;
  g.types.push_back(VgpuType{"bench_1080p", {24 * kMiB, 16 * kMiB, 4}, 1, 1920, 1080});
  return g;
}

}  // namespace

Rig::Rig(const RigOptions& ro) {
  static int serial = 0;
  path = fmt::format("/tmp/vgd-daemon-bench-{}-{}.sock", ::getpid(), ++serial);
  DaemonConfig cfg;
  cfg.gpu = bench_gpu();
  cfg.vgpus.assign(ro.vgpus, VgpuSpec{"bench_1080p", ro.workload, guest::kMode1920x1080at60, 64 * kMiB});
  for (VgpuSpec& v : cfg.vgpus) v.damage_hints = ro.damage_hints;
  cfg.socket = path;
  cfg.max_clients = ro.vgpus + 8;
  auto h = server::Host::create(cfg);
  if (!h) die("host: " + h.error());
  host = std::move(*h);
  if (ro.probes)
    for (auto& hv : host->vgpus()) install_probe(*hv);
  auto s = server::Server::create(*host, {path, cfg.max_clients, false, cfg.socket_group});
  if (!s) die("server: " + s.error());
  srv = std::move(*s);
  host->start_guests();
  loop = std::thread([this] { rc = srv->run(); });
  wait_for_guests();
}

Rig::~Rig() {
  stop_server();
  host->stop_guests();
  srv.reset();
  host.reset();
}

void Rig::stop_server() {
  if (!loop.joinable()) return;
  srv->request_stop();
  loop.join();
}

int64_t Rig::daemon_cpu_ns() {
  int64_t ns = thread_cpu_ns(loop);
  for (std::thread* t : host->vblank_threads()) ns += thread_cpu_ns(*t);
  return ns;
}

void Rig::install_probe(server::HostedVgpu& hv) {
  auto& p = *probes.emplace_back(std::make_unique<Probe>());
  const Locked lk(hv.lock());
  p.hub = &hv.port().events().hub();
  hv.vgpu().set_pipe_state_listener([&p](Vgpu&, hw::Pipe pipe, bool on) { p.hub->publish(p.tracker.on_pipe_state(pipe, on)); });
  hv.vgpu().set_vblank_listener([this, &p](Vgpu& v, const display::VblankReport& r) {
    const int64_t t = now_ns();
    // The clock's deadline for this tick (a tick that slept through deadlines stands for the
    // last of them; the ones before are counted as missed).
    const auto deadline = static_cast<int64_t>(v.last_vblank_ns());
    const auto period = static_cast<int64_t>(display::period_ns_for_mhz(v.display().refresh_mhz()));
    if (p.last_vblank != 0 && deadline - p.last_vblank > period + period / 2)
      p.missed += static_cast<uint64_t>((deadline - p.last_vblank + period / 2) / period - 1);
    p.last_vblank = deadline;
    const uint64_t value = p.tracker.on_vblank(r);
    if (value != 0 && deadline != 0) {
      const uint64_t s = p.seq.load(std::memory_order_relaxed) + 1;
      p.ring[s % Probe::kRing].deadline.store(deadline, std::memory_order_relaxed);
      p.ring[s % Probe::kRing].dispatch.store(t, std::memory_order_relaxed);
      p.seq.store(s, std::memory_order_release);
      if (recording.load(std::memory_order_relaxed)) p.server_wake.push_back(t - deadline);
    }
    p.hub->publish(value);
  });
}

void Rig::wait_for_guests() {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    bool all = true;
    for (auto& hv : host->vgpus()) {
      if (!hv->session().ok()) die(fmt::format("guest of vGPU {} failed: {}", hv->id(), hv->session().error()));
      const Locked lk(hv->lock());
      const auto& st = hv->vgpu().display().stats();
      const auto& f = st.flips[hw::index(hw::Pipe::A)];
      const bool flips = hv->spec().workload == Workload::Console || f[0] + f[1] + f[2] >= 2;
      all = all && hv->vgpu().display().active(hw::Pipe::A) && st.vblanks[0] >= 12 && flips;
    }
    if (all) return;
    if (std::chrono::steady_clock::now() > give_up) die("guests did not come up within 30 s");
    sleep_s(0.05);
  }
}

Conn::Conn(const std::string& path) : fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die(fmt::format("connect {}: {}", path, std::strerror(errno)));
}

Packet Conn::call(Packet req) {
  req.header.seq = ++seq;
  if (auto s = proto::send_packet(fd.get(), req); !s) die(s.error());
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, 10000) != 1) die("no reply within 10 s");
  Packet r;
  std::string why;
  if (proto::recv_packet(fd.get(), r, why) != proto::RecvResult::Ok) die("reply: " + why);
  if (r.header.seq != req.header.seq) die("reply out of sequence");
  return r;
}

Packet Conn::must(Packet r, const char* what) {
  if (r.header.type == proto::kError) die(fmt::format("{}: {}", what, proto::error_text(r)));
  return r;
}

void Conn::hello(const char* name) {
  proto::HelloRequest h;
  std::snprintf(h.client_name, sizeof h.client_name, "%s", name);
  must(call(MsgType::Hello, 0, h), "Hello");
}

void Conn::subscribe(uint32_t vgpu, int efd) {
  must(call(MsgType::Open, vgpu), "Open");
  Packet set = proto::make_packet(static_cast<uint16_t>(MsgType::SetEventfd), 0, vgpu);
  set.fds.emplace_back(::dup(efd));
  must(call(std::move(set)), "SetEventfd");
}

proto::GfxPlaneInfo plane_request(uint32_t type) {
  proto::GfxPlaneInfo q{};
  q.argsz = sizeof q;
  q.flags = proto::kFlagDmabuf;
  q.drm_plane_type = type;
  return q;
}

Packet query_packet(uint32_t vgpu, uint32_t plane) {
  Packet q = proto::make_packet(static_cast<uint16_t>(MsgType::QueryPlane), 1, vgpu);
  q.append(plane_request(plane));
  return q;
}

}  // namespace vgd::daemon_bench
