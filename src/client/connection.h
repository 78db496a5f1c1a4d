// A connection to vgpud: the Hello handshake, the list of vGPUs, and opening one. See
// client/client.h for the whole picture.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "client/error.h"
#include "client/session.h"
#include "proto/socket_path.h"
#include "proto/wire.h"
#include "util/unique_fd.h"

namespace vgd::client {

// Where vgpud listens unless told otherwise (the daemon's own rule, from the wire layer).
using proto::default_socket_path;

struct ServerInfo {
  uint32_t version = 0;
  uint32_t max_packet = 0;
  uint32_t vgpus = 0;  // how many vGPUs the daemon hosted at Hello
  uint32_t features = 0;  // proto::kFeature*: requests it answers beyond version 1's first set
};

struct VgpuInfo {
  uint32_t id = 0;
  proto::VgpuState state = proto::VgpuState::Running;
  uint32_t width = 0, height = 0;  // mode of the first active pipe; 0 when the display is off
  uint32_t refresh_mhz = 0;        // 60000 = 60 Hz
  // Its tearing control, which says how long buffer references may be kept (see VgpuSession).
  proto::Tearing tearing = proto::Tearing::None;
  std::string type;                // vGPU type, e.g. "GVTg_V5_8"
  std::string workload;            // what its guest runs, e.g. "desktop"
};
using proto::state_name;
std::string_view tearing_name(proto::Tearing t);  // "none", "hold", "copy"

// An output of the daemon's host display, and the vGPU pipe on it (direct flip,
// docs/protocol.md §3.10).
struct OutputInfo {
  std::string name;  // "Virtual-1", "HDMI-A-1"
  bool connected = false;
  uint32_t width = 0, height = 0, refresh_mhz = 0;  // the mode it shows or would be lit with
  uint32_t vgpu = 0;  // 0: none
  char pipe = 'A';
  bool by_config = false;  // the daemon's config put it there
  uint32_t lessee = 0;     // leased out (LeaseOutput) to this DRM lessee; 0: not leased
};
// An output leased from vgpud (docs/protocol.md §3.11): a DRM master fd of just its connector,
// CRTC and planes, for as long as the connection that asked stays open.
struct OutputLease {
  UniqueFd fd;
  uint32_t lessee = 0, connector = 0, crtc = 0, planes = 0;
};
struct Outputs {
  std::string display;  // "virtual", "card0"
  std::vector<OutputInfo> outputs;
};

struct ConnectOptions {
  // A reply that takes longer breaks the connection (the daemon answers at once; a hang means
  // it is stuck or gone).
  std::chrono::milliseconds reply_timeout{5000};
};

// Move-only; not thread-safe. Sessions opened from it share its socket and keep it alive, so
// they may outlive the Connection object.
class Connection {
 public:
  // Connects to the socket at `path` and says Hello as `client_name` (truncated to 31 bytes,
  // shown in the daemon's log). A missing daemon is an error whose message names the path.
  static Result<Connection> connect(const std::string& path, std::string_view client_name,
                                    ConnectOptions opts = {});
  // The same over a socket already connected (SOCK_SEQPACKET): socket activation, tests.
  static Result<Connection> adopt(UniqueFd sock, std::string_view client_name, ConnectOptions opts = {});

  const ServerInfo& server() const { return server_; }

  Result<std::vector<VgpuInfo>> list();
  // Opens vGPU `id` (NoEntry if there is none; Busy if a session of this connection has it
  // open: the daemon keeps one state per client and vGPU, so two sessions would share it).
  // Asks for the list first: the vGPU's tearing control decides how the session keeps buffers.
  Result<VgpuSession> open(uint32_t id, SessionOptions opts = {});
  // For whoever starts a VM on vGPU `id` (configured `guest = "qemu"`): the socket to hand to
  // QEMU's x-pci-proxy-dev (docs/protocol.md §3.8). Busy while another VM is attached.
  Result<UniqueFd> attach_vm(uint32_t id);

  // Direct flip (ServerInfo::features has kFeatureDirectFlip; otherwise NotSupported): the host
  // display's outputs; vGPU `id`'s `pipe` (0 = A) put on `output` until UnassignOutput or until
  // this connection closes (NoEntry: no such output; Busy: the output or the vGPU is taken);
  // and taken off.
  Result<Outputs> outputs();
  Result<OutputInfo> assign_output(uint32_t id, std::string_view output, uint32_t pipe = 0);
  Result<bool> unassign_output(uint32_t id, uint32_t pipe = 0);
  // ServerInfo::features has kFeatureLease: `output` leased (NotSupported: the daemon's display
  // cannot lease; Busy: the output is assigned or leased). Revoked when this connection closes.
  Result<OutputLease> lease_output(std::string_view output);

 private:
  Connection(std::shared_ptr<detail::Channel> ch, ServerInfo s) : ch_(std::move(ch)), server_(s) {}
  std::shared_ptr<detail::Channel> ch_;
  ServerInfo server_;
};

}  // namespace vgd::client
