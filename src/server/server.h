// vgpud's event loop: one epoll set on the main thread for the listening socket, every client,
// SIGINT/SIGTERM and a stop request. A codec: requests (docs/protocol.md) become calls on the
// vGPU's ConsumerPort and replies go back without blocking. A malformed request gets an EPROTO
// error and closes that client only; every refusal is logged and counted. Vblanks do not run
// here (Host's vblank thread), and each client gets at most kRequestsPerTurn requests served
// before the loop looks at the others again.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "proto/packet.h"
#include "server/admission.h"
#include "server/host.h"
#include "util/expected.h"
#include "util/thread_annotations.h"
#include "util/unique_fd.h"

namespace vgd::server {

// Every member has a default, so callers name only what they set ({.max_clients = 8}).
struct ServerOptions {
  std::string socket_path = {};
  uint32_t max_clients = 64;
  bool handle_signals = true;  // SIGINT/SIGTERM end run() (tests use request_stop())
  std::optional<uint32_t> socket_group = std::nullopt;  // chown the socket file to it (docs/config.md "Consumers")
  // A client that has not sent Hello this long after it connected is closed (0: never), so a
  // silent connection cannot keep a max_clients slot (docs/security.md §3).
  uint32_t hello_timeout_ms = 5000;
  // Connections one uid may hold at once (0: any number); the daemon's own process is not
  // counted (its viewers, docs/security.md §3).
  uint32_t max_clients_per_uid = 16;
};

struct ServerStats {
  uint64_t connections = 0, disconnects = 0, requests = 0;
  uint64_t errors = 0;     // error replies sent
  uint64_t malformed = 0;  // clients closed for a protocol violation
  uint64_t refused_connections = 0;  // beyond max_clients, or whose credentials could not be read
  uint64_t uid_refused_connections = 0;  // beyond max_clients_per_uid
  uint64_t hello_timeouts = 0;  // clients closed for sending no Hello within hello_timeout_ms
  uint64_t unread = 0;  // clients closed because their replies went unread (their queue was full)
  uint64_t denied = 0;               // requests refused for who the peer is (docs/protocol.md §7)
  uint64_t trusted_opens = 0, untrusted_opens = 0;  // Opens granted, by the consumer's Trust
};

class Server {
 public:
  // Requests of one client served before the loop turns to the others (it comes back at once
  // if more are queued): one chatty client cannot starve the rest.
  static constexpr int kRequestsPerTurn = 16;
  // Descriptors a client may have in replies it has not read yet before its GetBuffers are
  // refused (EAGAIN): descriptors in flight count against the daemon's own open-file limit
  // (the kernel refuses sends past it, ETOOMANYREFS), so a client that requests buffers and
  // never reads them would otherwise make the daemon fail everyone's replies.
  static constexpr uint32_t kMaxUnreadFds = 32;

  static Expected<std::unique_ptr<Server>, std::string> create(Host& host, ServerOptions opt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until a signal or request_stop(); returns 0, or 1 when the loop itself failed.
  int run();
  // One turn of run(): waits up to `timeout_ms` (-1: for ever) for something to do and does it.
  // run() is a loop of these; the protocol fuzzer (fuzz/server_fuzz.cpp) turns it itself, on
  // one thread with its clients, so every input is served the same way.
  enum class Turn : uint8_t { Idle, Served, Stopped, Failed };
  Turn serve_pending(int timeout_ms);
  void request_stop();  // any thread
  ServerStats stats() const;
  const std::string& socket_path() const { return opt_.socket_path; }

 private:
  using Opened = ConsumerId;  // per vGPU a client opened: its handle on the vGPU's port
  struct Client {
    UniqueFd fd;
    bool greeted = false;
    int64_t hello_deadline_ns = 0;  // CLOCK_MONOTONIC; closed if not greeted by then
    std::string name;  // from Hello, for logs
    Peer peer;         // SO_PEERCRED and SO_PEERGROUPS at connect: who it is for admission
    std::map<uint32_t, Opened> opened;
    uint64_t id = 0;  // owner of the outputs it assigned (DisplayLinks): they go with it
    uint32_t fds_sent = 0;  // descriptors sent since its queue was last seen empty
  };

  Server(Host& host, ServerOptions opt)
      : host_(host), opt_(std::move(opt)), self_{::getpid(), static_cast<uint32_t>(::geteuid())} {}
  Expected<bool, std::string> setup();
  void accept_clients();
  // False when the client must go.
  bool serve(Client& c);
  // The client has read its replies well enough to be sent more descriptors (kMaxUnreadFds).
  static bool reads_its_replies(Client& c);
  proto::Packet handle(Client& c, proto::Packet& req);
  proto::Packet handle_vgpu(proto::Packet& req, HostedVgpu& hv, ConsumerId consumer);
  proto::Packet list(const Client& c, const proto::Packet& req);
  proto::Packet damage(const proto::Packet& req, ConsumerPort& port, ConsumerId consumer);
  // ListOutputs, AssignOutput, UnassignOutput, LeaseOutput (server_outputs.cpp); nullopt: another request.
  std::optional<proto::Packet> outputs_request(const Client& c, const proto::Packet& req);
  proto::Packet lease_request(const Client& c, const proto::Packet& req, DisplayLinks& links);
  // What the client may do with the vGPU (admission.h).
  Access access(const Client& c, const HostedVgpu& hv) const { return decide(hv.spec().access, c.peer, self_); }
  // An Access error for who the client is, counted (`denied`); `why` says what was refused.
  proto::Packet deny(const Client& c, const proto::Packet& req, std::string_view why);
  static proto::Packet reply_to(const proto::Packet& req) {
    return proto::make_packet(req.header.type | proto::kReplyBit, req.header.seq, req.header.vgpu);
  }
  void drop(int fd);
  // The Hello deadline (hello_timeout_ms): one timerfd armed for the earliest deadline while
  // any client is ungreeted, disarmed when none is (server_hello.cpp).
  void expect_hello(Client& c);  // c was just accepted
  void hello_done(Client& c);     // c sent Hello, or goes without
  void hello_timer_fired();       // closes (and counts) the clients past their deadline
  void arm_hello_timer(int64_t deadline_ns);  // 0: disarm
  // Refused at accept: at max_clients, or its uid at max_clients_per_uid.
  bool refuse(const Peer& peer) REQUIRES(stats_mu_);

  Host& host_;
  ServerOptions opt_;
  Self self_;  // our pid and uid, for admission
  UniqueFd listen_, epoll_, signal_, stop_;
  UniqueFd hello_timer_;  // none when hello_timeout_ms is 0
  size_t ungreeted_ = 0;  // clients that have not sent Hello yet
  ino_t socket_inode_ = 0;  // our socket file's, so the destructor removes no one else's
  std::map<int, std::unique_ptr<Client>> clients_;
  uint64_t next_client_id_ = 1;
  mutable Mutex stats_mu_;
  ServerStats stats_ GUARDED_BY(stats_mu_);
};

}  // namespace vgd::server
