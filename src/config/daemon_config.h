// vgpud's configuration: the GPU (as in gpu_config.h), the vGPUs it hosts with the guest each
// runs, and where it serves consumers and viewers. Without a file the embedded defaults apply:
// three demo vGPUs (a desktop, a boot console and a video overlay).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guest/display.h"
#include "hw/display.h"
#include "guest/workload_kind.h"
#include "proto/socket_path.h"
#include "util/expected.h"
#include "vgpu/gpu.h"

namespace vgd {

// What keeps a consumer from reading a frame the guest is drawing into (docs/design.md,
// "Tearing control"): nothing, holding the guest's flip-done, or copying the frame.
enum class TearingMode : uint8_t { None, Hold, Copy };
constexpr std::string_view name(TearingMode m) {
  return m == TearingMode::Hold ? "hold" : m == TearingMode::Copy ? "copy" : "none";
}

// Who drives a vGPU: a guest of ours on a thread of the daemon, or a QEMU VM that attaches
// through `vgpuctl qemu` (docs/vm.md).
enum class GuestKind : uint8_t { Builtin, Qemu };

// `[[vgpu]] direct_flip = { output = "Virtual-1", pipe = "A" }`: the vGPU's pipe on a host output
// from the start (docs/direct-flip.md, The engine; docs/config.md, Direct flip).
struct DirectFlipSpec {
  std::string output;
  hw::Pipe pipe = hw::Pipe::A;
};

// Which local users may consume a vGPU over the control socket, and which of them get its guest's
// memory itself (docs/security.md, docs/config.md "Consumers"). Peers are known by SO_PEERCRED.
struct ConsumerAccess {
  // Admitted: these uids, and peers in any of these groups. Neither list given: the daemon's
  // own uid and root only.
  std::optional<std::vector<uint32_t>> allow_uids, allow_gids;
  // Trusted (zero-copy: descriptors of the guest's RAM, dma-bufs); implies admitted. Everyone
  // else admitted gets host-owned read-only copies of the planes only.
  std::vector<uint32_t> trusted_uids, trusted_gids;
};

struct VgpuSpec {
  std::string type = "GVTg_V5_8";
  Workload workload = Workload::Desktop;  // the builtin guest's; a VM runs what it likes
  guest::Mode mode = guest::kMode1024x768at60;
  uint64_t ram = 128ull << 20;  // guest RAM
  TearingMode tearing = TearingMode::None;
  // tearing = copy: host memory for the two shadow frames; 0: two frames at the type's maximum
  // resolution (exporter::ShadowFrames::default_budget).
  uint64_t copy_budget = 0;
  GuestKind guest = GuestKind::Builtin;
  // Offer the guest damage hints (vgt_caps bit 16, docs/hardware.md "Damage hints"): our own
  // extension, so it can be turned off per vGPU; guests then see the caps upstream GVT-g has.
  bool damage_hints = true;
  // The builtin guest's picture holds still from this frame on (0: never): for tests and demos
  // that must know what is on screen (docs/config.md).
  uint32_t hold_frame = 0;
  std::optional<DirectFlipSpec> direct_flip = std::nullopt;  // put on a host output at start-up
  ConsumerAccess access = {};

  bool vm() const { return guest == GuestKind::Qemu; }
  // What the guest runs, for lists and dashboards: the workload, or "qemu".
  std::string_view guest_name() const { return vm() ? "qemu" : name(workload); }
};

// [vnc]: one RFB server per vGPU (its websocket endpoint on the same port serves noVNC).
struct VncConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1";  // loopback unless told otherwise
  uint32_t base_port = 5900;         // vGPU N listens on base_port + N (VNC display N); 0: any free port
  // auth = "password" (true, the default): VNC authentication with `password`, or with one
  // vgpud makes up at start and prints when none is set. auth = "none" (false): anyone who
  // reaches the port sees the screens (docs/viewers.md, "Access").
  bool auth = true;
  std::string password;
};

// [web]: the dashboard, /api and /metrics over HTTP.
struct WebConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1";
  uint32_t port = 8080;  // 0: any free port
  // auth = "token" (true, the default): every request shows `token`, or one vgpud makes up at
  // start (128 bits, hex) and prints as a ready URL. auth = "none" (false): no token asked.
  bool auth = true;
  std::string token;
  std::vector<std::string> allowed_hosts;  // Host names besides the listen address and loopback
  bool metrics_auth = true;                // metrics_auth = "none": /metrics without the token
};

// [host_display]: where guest pipes can be put (docs/direct-flip.md). A virtual monitor (a
// software display, for hosts without a GPU) or a KMS device: a card opened as DRM master, or a DRM
// lease fd the daemon inherited.
struct VirtualOutputConfig {
  std::string name;  // "Virtual-<n>": the monitor numbers its outputs from 1
  uint32_t width = 1920, height = 1080, refresh_hz = 60;
};
struct HostDisplayConfig {
  // None: no host display (no [host_display] and no vGPU with direct_flip): direct flip is off.
  enum class Backend : uint8_t { None, Virtual, Kms } backend = Backend::None;
  std::vector<VirtualOutputConfig> outputs;  // Virtual: default Virtual-1 and Virtual-2, 1920x1080@60
  std::string card;                          // Kms: "/dev/dri/card0", opened as master
  int lease_fd = -1;                         // Kms: an inherited DRM lease fd (instead of card)
};
constexpr std::string_view name(HostDisplayConfig::Backend b) {
  return b == HostDisplayConfig::Backend::Virtual ? "virtual" : b == HostDisplayConfig::Backend::Kms ? "kms" : "none";
}
std::vector<VirtualOutputConfig> default_virtual_outputs();

struct DaemonConfig {
  GpuConfig gpu;
  std::vector<VgpuSpec> vgpus = {VgpuSpec{}, VgpuSpec{"GVTg_V5_8", Workload::Console},
                                 VgpuSpec{"GVTg_V5_8", Workload::Video}};
  std::string socket;  // empty: default_socket_path()
  uint32_t max_clients = 64;
  // Against connections that hold a slot and do nothing (docs/security.md §3): one that sent no
  // Hello this long is closed (0: never), and one uid holds at most max_clients_per_uid (0: any).
  uint32_t hello_timeout_ms = 5000;
  uint32_t max_clients_per_uid = 16;
  // The socket file's group (chowned at creation, docs/config.md "Consumers"): the users admitted
  // to a vGPU need to reach the 0660 socket at all. nullopt: the daemon's own group.
  std::optional<uint32_t> socket_group;
  // [export]
  uint32_t idle_buffers = 16;  // per vGPU: buffer ids kept while no consumer holds them (LRU)
  bool udmabuf = true;         // hand out a real dma-buf too when /dev/udmabuf works
  VncConfig vnc;
  WebConfig web;
  HostDisplayConfig host_display;
};

// The modes a guest can be asked for, by name ("1024x768@60", "1024x768@75", "1920x1080@60",
// "1920x1080@59.94").
bool parse_mode(std::string_view s, guest::Mode& out);
using proto::default_socket_path;  // $XDG_RUNTIME_DIR/vgpud.sock, else /run/vgpud/vgpud.sock

Expected<DaemonConfig, std::string> parse_daemon_config(std::string_view toml_text, std::string_view source_name);
Expected<DaemonConfig, std::string> load_daemon_config(const std::string& path);

}  // namespace vgd
