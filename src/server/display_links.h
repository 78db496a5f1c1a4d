// vgpud's host display and the vGPU pipes put on its outputs (docs/direct-flip.md, "In the
// daemon"): it owns the HostDisplay (a virtual monitor or a KMS device), makes and ends each
// assignment (a directflip::PipeLink, kept by the vGPU and used only under its lock), and runs the
// thread that polls the display's event_fd and hands each page-flip and vblank event to the link
// whose CRTC it names, under that vGPU's lock.
//
// Lock order (docs/design.md, "Ownership"): mu_ (the assignment table), then a vGPU's lock, then
// the display's own leaf lock (SerializedDisplay). Nothing under a vGPU's lock takes mu_.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "config/daemon_config.h"
#include "directflip/assign.h"
#include "hostdisplay/host_display.h"
#include "hostdisplay/virtual_monitor.h"
#include "server/named_count.h"
#include "server/serialized_display.h"
#include "util/expected.h"
#include "util/thread_annotations.h"
#include "util/unique_fd.h"

namespace vgd::server {

class HostedVgpu;

// An output as ListOutputs and /api/outputs show it.
struct OutputStatus {
  std::string name;
  bool connected = false;
  uint32_t crtc = 0;  // the CRTC driving it (or that its assignment lights), 0: none
  // The mode it shows, or would be lit with (its preferred); 0 when it lists none.
  uint32_t width = 0, height = 0, refresh_mhz = 0;
  uint32_t vgpu = 0;  // the vGPU on it, 0: none
  hw::Pipe pipe = hw::Pipe::A;
  bool by_config = false;  // assigned by [[vgpu]] direct_flip (stays until unassigned)
  // Where the daemon shows what it scans out (a virtual monitor's output over VNC, filled in by
  // vgpud: docs/viewers.md): the VNC and websocket port, 0 for none (a KMS output has glass).
  int view_port = 0;
  uint32_t view_clients = 0;
  uint64_t view_pictures = 0;  // pictures that changed what the view's clients have
  std::vector<NamedCount> view_ws_refused;  // websocket upgrades the view's door refused, by reason
  uint32_t lessee = 0;     // leased out (LeaseOutput) to this DRM lessee, 0: not leased
};

// An output leased out (docs/direct-flip.md, Leases): the fd for the lessee, and what it holds.
struct OutputLease {
  UniqueFd fd;
  uint32_t lessee = 0;
  uint32_t connector = 0, crtc = 0;
  std::vector<uint32_t> planes;
};

struct LinkRefusal {
  // OutputTaken: assigned or leased; NotSupported: a display that cannot lease.
  enum class Why : uint8_t { UnknownOutput, OutputTaken, VgpuLinked, NotAssigned, NotSupported, Failed } why;
  std::string message;
};

struct DisplayLinkStats {
  uint64_t assigns = 0, unassigns = 0;
  uint64_t released = 0;  // assignments ended because the client that made them went
  uint64_t refused = 0;   // assign / unassign / lease requests refused
  uint64_t leases = 0;    // outputs leased out
  uint64_t leases_ended = 0;  // leases revoked (their client went) or ended by their lessee
  uint64_t events = 0;    // page-flip events routed to a link
  uint64_t vblanks = 0;   // host vblank events routed to a link (its guest's clock follows them)
  uint64_t unrouted = 0;  // page-flip or vblank events of a CRTC no link has (a link that just went)
  // Links made anew on their output because their vGPU's RAM was replaced (a VM left or came, or
  // sent a new map: HostedVgpu::renew_link), and those that could not be (the output then dark).
  uint64_t renewed = 0, renew_failed = 0;
};

class DisplayLinks {
 public:
  static constexpr uint64_t kConfigOwner = 0;  // owners > 0 are the server's clients

  // The configured host display (backend Virtual or Kms), its event thread running.
  static Expected<std::unique_ptr<DisplayLinks>, std::string> open(const HostDisplayConfig& cfg);
  ~DisplayLinks();  // release_all()
  DisplayLinks(const DisplayLinks&) = delete;
  DisplayLinks& operator=(const DisplayLinks&) = delete;

  std::string name() const { return display_.name(); }
  // The virtual monitor, to watch what it scans out (null on KMS).
  hostdisplay::VirtualMonitor* virtual_monitor() const { return vmon_; }
  hostdisplay::CommitCounters display_counters() const { return display_.counters(); }

  std::vector<OutputStatus> outputs() const EXCLUDES(mu_);
  // Each output's name and the CRTC that scans it out now, or would (its first possible one):
  // what a view of the outputs follows.
  std::vector<std::pair<std::string, uint32_t>> output_crtcs() const;
  // Puts `pipe` of `hv` on `output` for `owner` (kConfigOwner, or a client whose disconnection
  // ends it). Takes the vGPU's lock.
  Expected<OutputStatus, LinkRefusal> assign(HostedVgpu& hv, hw::Pipe pipe, std::string_view output, uint64_t owner)
      EXCLUDES(mu_);
  // Ends the assignment of `pipe` of `hv`, whoever made it: planes off, the vGPU's flips its own
  // again. Returns the output it was on.
  Expected<std::string, LinkRefusal> unassign(HostedVgpu& hv, hw::Pipe pipe) EXCLUDES(mu_);
  // Leases `output` for `owner` (docs/direct-flip.md, Leases): its connector, the CRTC that
  // drives it (or would) and that CRTC's planes, lit first if dark (the lessor's one modeset
  // for it). Refused: an output assigned or leased already (OutputTaken), a display that
  // cannot lease (NotSupported: the virtual monitor, a lessee). Ends with release_owner(owner)
  // or when the lessee closes every copy of the fd.
  Expected<OutputLease, LinkRefusal> lease(std::string_view output, uint64_t owner) EXCLUDES(mu_);
  // The client `owner` went: its assignments end and its leases are revoked. Returns how many.
  size_t release_owner(uint64_t owner) EXCLUDES(mu_);
  // Shutdown, before any vGPU goes: every assignment ends and the event thread stops.
  void release_all() EXCLUDES(mu_);
  DisplayLinkStats stats() const EXCLUDES(mu_);

  // Where links commit (every call serialised): for a link made anew under its vGPU's lock.
  hostdisplay::HostDisplay& display() { return display_; }
  // A link made anew by its vGPU, under that vGPU's lock (so without mu_, which comes before it).
  void count_renewal(bool failed) { (failed ? renew_failed_ : renewed_).fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Assignment {
    HostedVgpu* hv = nullptr;
    hw::Pipe pipe = hw::Pipe::A;
    uint64_t owner = kConfigOwner;
    directflip::OutputPlanes planes;
  };
  using Table = std::map<std::string, Assignment, std::less<>>;
  struct Leased {
    uint32_t lessee = 0;
    uint64_t owner = kConfigOwner;
    std::vector<uint32_t> objects;  // the CRTC and planes (not for another assignment)
    hostdisplay::Mode mode;          // what it was lit with (or found lit with)
    hostdisplay::BufferRef black;   // what lit it, kept until the lease ends (see lease())
  };

  DisplayLinks(std::unique_ptr<hostdisplay::HostDisplay> display, hostdisplay::VirtualMonitor* vmon, UniqueFd stop);
  void event_loop();
  using Event = std::variant<hostdisplay::FlipEvent, hostdisplay::VblankEvent>;
  void route(const std::vector<Event>& events) EXCLUDES(mu_);
  void end(Table::iterator it) REQUIRES(mu_);  // destroys the link under its vGPU's lock
  void prune_leases() const REQUIRES(mu_);       // forgets leases whose lessee closed its fd
  void revoke(std::map<std::string, Leased, std::less<>>::iterator it) REQUIRES(mu_);
  std::vector<uint32_t> taken() const REQUIRES(mu_);  // CRTCs and planes assigned or leased
  // Why `output` cannot be assigned or leased (it is already), or nullopt.
  std::optional<std::string> taken_output(std::string_view output) REQUIRES(mu_);
  OutputStatus describe(const hostdisplay::Resources& r, const hostdisplay::OutputInfo& o) const REQUIRES(mu_);

  std::unique_ptr<hostdisplay::HostDisplay> owned_;
  hostdisplay::VirtualMonitor* const vmon_;
  mutable SerializedDisplay display_;  // every call to owned_ (the links' too) goes through it
  mutable Mutex mu_;
  Table assigned_ GUARDED_BY(mu_);  // by output name
  // By output name; mutable: a lease whose lessee has gone is forgotten wherever one is looked at.
  mutable std::map<std::string, Leased, std::less<>> leased_ GUARDED_BY(mu_);
  mutable DisplayLinkStats stats_ GUARDED_BY(mu_);
  std::atomic<uint64_t> renewed_{0}, renew_failed_{0};
  UniqueFd stop_;
  std::thread thread_;  // last: started when everything else is set up
};

}  // namespace vgd::server
