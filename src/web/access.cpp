#include "web/access.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "util/secrets.h"
#include "web/api_json.h"

namespace vgd::web {
namespace {

constexpr std::string_view kReasonNames[Access::kReasons] = {"token", "host", "origin"};


// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

}  // namespace

std::string Access::cookie_name() const { return fmt::format("vgpud_token_{}", o_.port); }

bool Access::has_token(const httplib::Request& req, bool& from_query) const {
  from_query = false;
  if (req.has_param("token") && secret_equal(req.get_param_value("token"), o_.token)) return from_query = true;
  const std::string auth = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.rfind(kBearer, 0) == 0 && secret_equal(std::string_view(auth).substr(kBearer.size()), o_.token)) return true;
  return secret_equal(cookie_value(req.get_header_value("Cookie"), cookie_name()), o_.token);
}

bool Access::refuse(const httplib::Request& req, httplib::Response& res, Refusal why, int status,
                    const std::string& text) {
  ++refused_[static_cast<size_t>(why)];
  spdlog::warn("dashboard: refused {} {} from {}: {}", req.method, req.path, req.remote_addr, text);
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  if (why == Refusal::Token) res.set_header("WWW-Authenticate", "Bearer");
  const std::string body = fmt::format("{} {}", status, text);
  if (is_api_path(req.path)) res.set_content(error_json(status, body).dump(2), "application/json");
  else res.set_content(body + "\n", "text/plain; charset=utf-8");
  return false;
}

bool Access::admit(const httplib::Request& req, httplib::Response& res) {
  const std::string host = req.get_header_value("Host");
  if (!o_.hosts.host_header_ok(host, o_.port))
    return refuse(req, res, Refusal::Host, 403,
                  fmt::format("forbidden: Host '{}' is not a name of this server (add it to [web] allowed_hosts)", host));
  // A browser names the page that sent a request (always for websockets and POSTs): it must be
  // one of ours, on the Host and port it asked for. Tools that send no Origin are not browsers.
  if (req.has_header("Origin")) {
    const std::string origin = req.get_header_value("Origin");
    std::string scheme;
    const auto o = parse_origin(origin, &scheme);
    const auto h = parse_host_header(host);
    if (!o || scheme != "http" || !h || o->host != h->host || o->port != (h->port ? h->port : 80))
      return refuse(req, res, Refusal::Origin, 403, fmt::format("forbidden: Origin '{}' is not this server", origin));
  }
  if (o_.token.empty() || (!o_.metrics_auth && req.path == "/metrics")) return true;
  bool from_query = false;
  if (!has_token(req, from_query))
    return refuse(req, res, Refusal::Token, 401,
                  "unauthorized: open the URL vgpud printed at start (it ends in ?token=...), or send "
                  "'Authorization: Bearer <token>'");
  if (from_query)  // the page's own requests carry it from now on; script cannot read it
    res.set_header("Set-Cookie", fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict", cookie_name(), o_.token));
  return true;
}

std::string Access::metrics() const {
  std::string out =
      "# HELP vgpud_web_refused_total Dashboard requests refused: without the right token, for a foreign Host or a foreign Origin.\n"
      "# TYPE vgpud_web_refused_total counter\n";
  for (size_t i = 0; i < kReasons; ++i)
    out += fmt::format("vgpud_web_refused_total{{reason=\"{}\"}} {}\n", kReasonNames[i], refused_[i].load());
  return out;
}

}  // namespace vgd::web
