#include "viewers/ws_gate.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace vgd::viewers {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A VNC client waits for the server's version: silence this long means one (libvncserver
// itself waits 100 ms for a websocket's first bytes, after this).
constexpr auto kSilentMeansVnc = 100ms;
constexpr auto kHeaderWait = 5s;      // a browser sends its upgrade at once: a slow one is refused
constexpr size_t kMaxHeader = 8192;   // an upgrade request is a few hundred bytes
constexpr auto kRecheck = 10ms;       // how often a partly sent header is looked at again
constexpr size_t kMaxPending = 64;    // connections still being looked at; more wait in the backlog

// The value of header `name` (lower case) in an HTTP request head, nullopt when absent.
std::optional<std::string> header(std::string_view head, std::string_view name) {
  size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const size_t start = at + 2, end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, end - start);
    const size_t colon = line.find(':');
    if (colon == name.size() &&
        std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      return std::string(v);
    }
    at = end;
  }
  return std::nullopt;
}

}  // namespace

bool page_may_open(std::string_view origin, const HostPolicy& hosts, int port, int dashboard_port) {
  std::string scheme;
  const auto o = parse_origin(origin, &scheme);
  // Neither the dashboard nor libvncserver serves https here (docs/viewers.md, TLS): an https
  // page is nobody's of ours. Without a known dashboard port only this port's pages are ours,
  // never "any port of our names": another local server's page is another site.
  return o && scheme == "http" && hosts.host_ok(o->host) &&
         (o->port == port || (dashboard_port > 0 && o->port == dashboard_port));
}

Opening judge_opening(std::string_view bytes, const HostPolicy& hosts, int port, int dashboard_port) {
  using V = Opening::Verdict;
  constexpr std::string_view kGet = "GET ";
  // Not the start of an HTTP request: RFB (or TLS, which libvncserver refuses without certificates).
  if (bytes.substr(0, std::min(bytes.size(), kGet.size())) != kGet.substr(0, std::min(bytes.size(), kGet.size())))
    return {};
  const size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) return {V::Wait, {}, {}};
  const std::string_view head = bytes.substr(0, end + 2);
  const auto host = header(head, "host");
  if (!host || !hosts.host_header_ok(*host, port))
    return {V::Refuse, WsRefusal::Host, fmt::format("Host '{}' is not a name of this server", host.value_or(""))};
  // Browsers always send Origin with a websocket: the page that opens it must be one of ours.
  if (const auto origin = header(head, "origin"); origin && !page_may_open(*origin, hosts, port, dashboard_port))
    return {V::Refuse, WsRefusal::Origin, fmt::format("Origin '{}' is not a page of this server", *origin)};
  return {};
}

struct WsGate::Pending {
  UniqueFd fd;
  Clock::time_point since;
  bool has_bytes = false;  // then it is polled by timer only (its readiness stays on)
};

WsGate::WsGate(std::vector<UniqueFd> listeners, int port, HostPolicy hosts, int dashboard_port, Hand hand)
    : listeners_(std::move(listeners)), port_(port), hosts_(std::move(hosts)), dashboard_port_(dashboard_port),
      hand_(std::move(hand)) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  wake_[0] = UniqueFd(p[0]);
  wake_[1] = UniqueFd(p[1]);
  thread_ = std::thread([this] { run(); });
}

uint64_t WsGate::refused() const {
  uint64_t n = 0;
  for (const auto& r : refused_) n += r.load();
  return n;
}

WsGate::~WsGate() {
  (void)!::write(wake_[1].get(), "x", 1);
  thread_.join();
}

bool WsGate::settle(Pending& p) {
  char buf[kMaxHeader];
  const ssize_t n = ::recv(p.fd.get(), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
  const auto waited = Clock::now() - p.since;
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return true;  // gone
  if (n < 0) {
    if (waited < kSilentMeansVnc) return false;
    hand_(std::move(p.fd));
    return true;
  }
  p.has_bytes = true;
  Opening o = judge_opening(std::string_view(buf, static_cast<size_t>(n)), hosts_, port_, dashboard_port_.load());
  if (o.verdict == Opening::Verdict::Wait) {
    if (waited < kHeaderWait && static_cast<size_t>(n) < sizeof buf) return false;
    o = {Opening::Verdict::Refuse, WsRefusal::Header, "its request header never ended"};
  }
  if (o.verdict == Opening::Verdict::Pass) {
    hand_(std::move(p.fd));
    return true;
  }
  ++refused_[static_cast<size_t>(o.reason)];
  spdlog::warn("vnc :{}: refused a websocket upgrade: {}", port_, o.why);
  const std::string body = fmt::format("403 forbidden: {}\n", o.why);
  const std::string reply = fmt::format(
      "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      body.size(), body);
  (void)!::send(p.fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  return true;
}

void WsGate::run() {
  std::vector<Pending> pending;
  for (;;) {
    std::vector<pollfd> fds{{wake_[0].get(), POLLIN, 0}};
    for (const UniqueFd& l : listeners_) fds.push_back({l.get(), POLLIN, 0});
    for (const Pending& p : pending)
      if (!p.has_bytes) fds.push_back({p.fd.get(), POLLIN, 0});
    const int timeout = pending.empty() ? -1 : static_cast<int>(kRecheck.count());
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      spdlog::error("vnc :{}: poll failed: {}", port_, std::strerror(errno));
      return;
    }
    if (fds[0].revents) return;
    for (size_t i = 1; i <= listeners_.size() && pending.size() < kMaxPending; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      UniqueFd c(::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (c) pending.push_back({std::move(c), Clock::now()});
    }
    std::erase_if(pending, [this](Pending& p) { return settle(p); });
  }
}

}  // namespace vgd::viewers
