// Which Host and Origin headers a server of ours on loopback answers (docs/viewers.md,
// "Access"). Pure: the dashboard and the VNC servers' websocket endpoint both use it.
//  * Host: a page on a name the attacker controls that resolves to 127.0.0.1 (DNS rebinding)
//    sends that name as Host: only names we know are ours are answered.
//  * Origin: a browser says which page opened a websocket or sent a request: a foreign page
//    is refused even when the Host is right.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vgd {

struct HostPort {
  std::string host;  // lower case; an IPv6 address in brackets ("[::1]")
  int port = 0;      // 0 when the header named none
};

// "name", "name:port", "[v6]" or "[v6]:port"; nullopt when malformed.
std::optional<HostPort> parse_host_header(std::string_view v);
// "http://name:port" (also https, ws, wss; a default port filled in); nullopt for anything
// else, "null" included.
std::optional<HostPort> parse_origin(std::string_view v, std::string* scheme = nullptr);

struct HostPolicy {
  std::string listen;               // the address the server listens on
  std::vector<std::string> names;   // more names it is reached by ([web] allowed_hosts)

  // The host part of a Host or Origin header is ours: the listen address, localhost,
  // 127.0.0.1, [::1], a configured name, or, when listening on every address (0.0.0.0, ::),
  // any IP address (a literal address cannot be rebound).
  bool host_ok(std::string_view host) const;
  // A Host header names us and `port` (a header without a port means 80).
  bool host_header_ok(std::string_view header, int port) const;
};

}  // namespace vgd
