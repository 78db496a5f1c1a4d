#include "util/http_host.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace vgd {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_ip_literal(std::string_view host) {
  in_addr a4{};
  in6_addr a6{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    return ::inet_pton(AF_INET6, std::string(host.substr(1, host.size() - 2)).c_str(), &a6) == 1;
  return ::inet_pton(AF_INET, std::string(host).c_str(), &a4) == 1;
}

// An address as a Host header writes it: IPv6 in brackets.
std::string bracketed(std::string_view addr) {
  return addr.find(':') != std::string_view::npos && addr.front() != '[' ? "[" + lower(addr) + "]" : lower(addr);
}

}  // namespace

std::optional<HostPort> parse_host_header(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  HostPort hp;
  std::string_view port;
  if (v.front() == '[') {
    const size_t close = v.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    hp.host = lower(v.substr(0, close + 1));
    std::string_view rest = v.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
    if (!rest.empty() && port.empty()) return std::nullopt;
  } else {
    const size_t colon = v.find(':');
    hp.host = lower(v.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = v.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
  }
  if (hp.host.empty()) return std::nullopt;
  for (char c : hp.host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string_view("-._:[]").find(c) == std::string_view::npos)
      return std::nullopt;
  if (!port.empty()) {
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), hp.port);
    if (ec != std::errc() || end != port.data() + port.size() || hp.port < 1 || hp.port > 65535) return std::nullopt;
  }
  return hp;
}

std::optional<HostPort> parse_origin(std::string_view v, std::string* scheme_out) {
  const size_t sep = v.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  const std::string scheme = lower(v.substr(0, sep));
  int default_port = 0;
  if (scheme == "http" || scheme == "ws") default_port = 80;
  else if (scheme == "https" || scheme == "wss") default_port = 443;
  else return std::nullopt;
  std::string_view rest = v.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);  // an origin has no path
  if (rest.find('/') != std::string_view::npos || rest.find('@') != std::string_view::npos) return std::nullopt;
  auto hp = parse_host_header(rest);
  if (!hp) return std::nullopt;
  if (hp->port == 0) hp->port = default_port;
  if (scheme_out) *scheme_out = scheme;
  return hp;
}

bool HostPolicy::host_ok(std::string_view host) const {
  const std::string h = lower(host);
  if (h == "localhost" || h == "127.0.0.1" || h == "[::1]" || h == bracketed(listen)) return true;
  if (std::any_of(names.begin(), names.end(), [&](const std::string& n) { return bracketed(n) == h; })) return true;
  const bool wildcard = listen == "0.0.0.0" || listen == "::" || listen == "[::]";
  return wildcard && is_ip_literal(h);
}

bool HostPolicy::host_header_ok(std::string_view header, int port) const {
  const auto hp = parse_host_header(header);
  return hp && host_ok(hp->host) && (hp->port ? hp->port : 80) == port;
}

}  // namespace vgd
