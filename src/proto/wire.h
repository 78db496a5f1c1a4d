// The vgpud control protocol, version 1 (docs/protocol.md is the user's description): one
// message per SOCK_SEQPACKET packet, a fixed 16-byte header and a fixed-layout body, host byte
// order (both ends are on the same machine), file descriptors as SCM_RIGHTS ancillary data.
// Every struct here is standard-layout with explicit padding, checked by static_assert, so a
// consumer in any language can mirror it from the document alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace vgd::proto {

inline constexpr uint32_t kMagic = 0x50444756;  // "VGDP" in memory
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kMaxPacket = 64 * 1024;
inline constexpr size_t kMaxFds = 4;

enum class MsgType : uint16_t {
  Hello = 1,
  List = 2,
  Open = 3,
  Close = 4,
  QueryPlane = 5,
  GetBuffer = 6,
  Release = 7,
  SetEventfd = 8,
  Mask = 9,
  Unmask = 10,
  PollEvents = 11,
  AttachVm = 12,
  GetDamage = 13,
  ListOutputs = 14,
  AssignOutput = 15,
  UnassignOutput = 16,
  LeaseOutput = 17,
};
// A request type of this version; anything else is EPROTO (docs/protocol.md §3).
constexpr bool known_request(uint16_t type) {
  return type >= static_cast<uint16_t>(MsgType::Hello) && type <= static_cast<uint16_t>(MsgType::LeaseOutput);
}
// A reply carries the request's type with this bit set, or kError.
inline constexpr uint16_t kReplyBit = 0x8000;
inline constexpr uint16_t kError = 0xFFFF;

struct Header {
  uint32_t magic = kMagic;
  uint16_t version = kVersion;
  uint16_t type = 0;
  uint32_t seq = 0;   // chosen by the client, echoed in the reply
  uint32_t vgpu = 0;  // the vGPU a request is about (0: none)
};

// Error codes are negated errno values, so they read familiar in any language.
enum class Status : int32_t {
  Ok = 0,
  NoEntry = -2,          // ENOENT: no such vGPU or buffer id
  BadFd = -9,            // EBADF: a request needed a descriptor and had none
  Again = -11,           // EAGAIN: try later (e.g. the plane is being reprogrammed)
  Access = -13,          // EACCES: vGPU not opened by this client, or the client is not admitted (§7)
  TooMany = -24,         // EMFILE: the client holds the most buffer references it may
  Fault = -14,           // EFAULT: the guest's plane points outside its memory
  Busy = -16,            // EBUSY
  Invalid = -22,         // EINVAL: bad flags, plane type, argsz, or an invalid plane
  NotSupported = -95,    // EOPNOTSUPP: e.g. REGION mode
  Protocol = -71,        // EPROTO: malformed message; the server closes the connection after it
};

struct ErrorBody {
  int32_t code = 0;  // a Status
  uint32_t length = 0;  // bytes of message used, without a terminator
  char message[248] = {};
};

struct HelloRequest {
  uint32_t client_version = kVersion;
  uint32_t reserved = 0;
  char client_name[32] = {};
};
// HelloReply.features: requests beyond the version's first set that this daemon answers (a
// daemon that predates one sends 0 there, and would close the connection on the request).
inline constexpr uint32_t kFeatureDamage = 1u << 0;  // GetDamage (docs/protocol.md §3.9)
// The daemon has a host display: vGPU pipes can be put on its outputs (direct flip: ListOutputs,
// AssignOutput, UnassignOutput answer, docs/protocol.md §3.10). Without it they are refused with
// NotSupported.
inline constexpr uint32_t kFeatureDirectFlip = 1u << 1;
// LeaseOutput answers (docs/protocol.md §3.11): the daemon knows the request. Whether its host
// display can lease (a KMS card it is master of) is the answer's business: EOPNOTSUPP says why not.
inline constexpr uint32_t kFeatureLease = 1u << 2;
struct HelloReply {
  uint32_t server_version = kVersion;
  uint32_t max_packet = kMaxPacket;
  uint32_t vgpus = 0;
  uint32_t features = 0;
};

enum class VgpuState : uint32_t { Running = 0, DisplayOff = 1, Failsafe = 2, GuestFailed = 3, NoVm = 4 };
// As logs, /metrics and the dashboard say it.
constexpr std::string_view state_name(VgpuState s) {
  switch (s) {
    case VgpuState::Running: return "running";
    case VgpuState::DisplayOff: return "display-off";
    case VgpuState::Failsafe: return "failsafe";
    case VgpuState::GuestFailed: return "guest-failed";
    case VgpuState::NoVm: return "no-vm";
  }
  return "unknown";
}

// A vGPU's tearing control (the daemon's `tearing` setting), which tells a consumer how long it
// may keep buffer references (docs/protocol.md §4): as long as it likes under None; under Hold
// a reference on the frame a flip replaced delays the guest's flip-done (up to 2 vblanks), and
// under Copy held shadows are not rewritten (frames are skipped). 0 is None, so a daemon that
// sent this field as reserved (0) reads as one without tearing control.
enum class Tearing : uint32_t { None = 0, Hold = 1, Copy = 2 };

struct VgpuEntry {
  uint32_t id = 0;
  uint32_t state = 0;  // VgpuState
  uint32_t width = 0, height = 0;  // the mode on its first active pipe, 0 when off
  uint32_t refresh_mhz = 0;
  uint32_t tearing = 0;  // Tearing
  char type[32] = {};
  char workload[16] = {};
};
struct ListReply {
  uint32_t count = 0;  // VgpuEntry records follow the struct
  uint32_t reserved = 0;
};
inline constexpr size_t kMaxListEntries = (kMaxPacket - sizeof(Header) - sizeof(ListReply)) / sizeof(VgpuEntry);

struct Extent {
  uint64_t offset = 0;  // into the memory file descriptor
  uint64_t length = 0;
};
struct BufferRequest {
  uint32_t id = 0;  // the dmabuf_id a query returned
  uint32_t reserved = 0;
};
inline constexpr uint32_t kBufferHasDmabuf = 1u << 0;  // a second fd: a dma-buf of the extents
struct BufferReply {
  uint32_t id = 0;
  uint32_t fourcc = 0;
  uint64_t modifier = 0;
  uint32_t width = 0, height = 0, stride = 0;
  uint32_t extent_count = 0;  // Extent records follow the struct
  uint64_t size = 0;
  uint32_t flags = 0;
  uint32_t reserved = 0;
};
inline constexpr size_t kMaxExtents = (kMaxPacket - sizeof(Header) - sizeof(BufferReply)) / sizeof(Extent);

struct ReleaseRequest {
  uint32_t id = 0;
  uint32_t reserved = 0;
};

struct EventsReply {
  uint64_t value = 0;     // accumulated event counts, encoded as for the eventfd
  uint64_t event_ns = 0;  // CLOCK_MONOTONIC: the vblank (or pipe-off) the newest event reports
};

// GetDamage (docs/protocol.md §3.9): what changed on a plane since this connection last asked.
struct DamageRequest {
  uint32_t drm_plane_type = 1;  // as in QueryPlane: 0 sprite, 1 primary, 2 cursor
  uint32_t reserved = 0;
};
inline constexpr uint32_t kDamageHinted = 1u << 0;  // the guest hints this plane: trust the rects
inline constexpr uint32_t kDamageWhole = 1u << 1;   // all of the plane changed (no rects follow)
struct DamageReply {
  uint32_t flags = 0;  // 0: no hints, compare pixels
  uint32_t count = 0;  // DamageRect records follow the struct (at most kMaxDamageRects)
};
struct DamageRect {
  uint32_t x = 0, y = 0, width = 0, height = 0;  // in the plane's pixels, 0,0 its top-left
};
inline constexpr uint32_t kMaxDamageRects = 16;

// Direct flip (docs/protocol.md §3.10): a host display's outputs, and vGPU pipes put on them.
struct OutputEntry {
  char name[32] = {};             // "Virtual-1", "HDMI-A-1"
  uint32_t connected = 0;         // 1: a monitor is connected
  uint32_t width = 0, height = 0;  // the mode it shows, or would be lit with; 0: none
  uint32_t refresh_mhz = 0;
  uint32_t vgpu = 0;   // the vGPU on it, 0: none
  uint32_t pipe = 0;   // that vGPU's pipe: 0 A, 1 B, 2 C
  uint32_t flags = 0;  // kOutputByConfig, kOutputLeased
  uint32_t lessee = 0;  // kOutputLeased: the DRM lessee id holding it (was reserved: 0)
};
inline constexpr uint32_t kOutputByConfig = 1u << 0;  // put there by the daemon's config, not a client
inline constexpr uint32_t kOutputLeased = 1u << 1;    // leased out (LeaseOutput): neither assignable nor leasable
struct OutputsReply {
  uint32_t count = 0;  // OutputEntry records follow the struct
  uint32_t reserved = 0;
  char display[32] = {};  // the host display: "virtual", "card0", "lease fd 5"
};
inline constexpr size_t kMaxOutputs = (kMaxPacket - sizeof(Header) - sizeof(OutputsReply)) / sizeof(OutputEntry);
// AssignOutput: header.vgpu's pipe on the output named; the reply is the output's OutputEntry.
struct AssignRequest {
  uint32_t pipe = 0;  // 0 A, 1 B, 2 C
  uint32_t reserved = 0;
  char output[32] = {};
};
// UnassignOutput: header.vgpu's pipe off its output; the reply has no body.
struct UnassignRequest {
  uint32_t pipe = 0;
  uint32_t reserved = 0;
};

// LeaseOutput (docs/protocol.md §3.11): the output's connector, its CRTC and that CRTC's planes
// handed to a DRM lessee; the reply carries the lease fd. The lease ends when this connection
// closes (the daemon revokes it) or when every copy of the fd is closed.
struct LeaseRequest {
  uint32_t reserved[2] = {};
  char output[32] = {};
};
struct LeaseReply {
  uint32_t lessee = 0;      // the kernel's lessee id
  uint32_t connector = 0;   // the leased objects' ids, as the lessor names them
  uint32_t crtc = 0;
  uint32_t planes = 0;      // how many planes
};

// Layout checks: what docs/protocol.md promises.
static_assert(sizeof(Header) == 16 && offsetof(Header, type) == 6 && offsetof(Header, vgpu) == 12);
static_assert(sizeof(ErrorBody) == 256);
static_assert(sizeof(HelloRequest) == 40 && sizeof(HelloReply) == 16);
static_assert(sizeof(VgpuEntry) == 72 && offsetof(VgpuEntry, tearing) == 20 && offsetof(VgpuEntry, type) == 24 &&
              offsetof(VgpuEntry, workload) == 56);
static_assert(sizeof(ListReply) == 8 && sizeof(Extent) == 16 && sizeof(BufferRequest) == 8);
static_assert(sizeof(BufferReply) == 48 && offsetof(BufferReply, modifier) == 8 && offsetof(BufferReply, size) == 32);
static_assert(sizeof(ReleaseRequest) == 8 && sizeof(EventsReply) == 16);
static_assert(sizeof(DamageRequest) == 8 && sizeof(DamageReply) == 8 && sizeof(DamageRect) == 16);
static_assert(sizeof(OutputEntry) == 64 && offsetof(OutputEntry, connected) == 32 && offsetof(OutputEntry, vgpu) == 48);
static_assert(sizeof(OutputsReply) == 40 && sizeof(AssignRequest) == 40 && sizeof(UnassignRequest) == 8);
static_assert(sizeof(LeaseRequest) == 40 && offsetof(LeaseRequest, output) == 8 && sizeof(LeaseReply) == 16);
static_assert(std::is_trivially_copyable_v<VgpuEntry> && std::is_standard_layout_v<BufferReply>);

}  // namespace vgd::proto
