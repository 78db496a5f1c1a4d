// Who may use the dashboard (docs/viewers.md, "Access"): every request, files included, must
// name us in its Host header (DNS rebinding), carry no foreign Origin (another site's page),
// and show the access token: as ?token=, as the cookie set after a right ?token=, or as
// `Authorization: Bearer`. Refusals are logged and counted by reason for /metrics.
#pragma once

#include <httplib.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "util/http_host.h"

namespace vgd::web {

struct AccessOptions {
  std::string token;         // empty: no token asked ([web] auth = "none")
  bool metrics_auth = true;  // false: /metrics without the token ([web] metrics_auth = "none")
  HostPolicy hosts;
  int port = 0;              // the port Host headers must name
};

class Access {
 public:
  enum class Refusal : uint8_t { Token, Host, Origin };
  static constexpr size_t kReasons = 3;

  explicit Access(AccessOptions o) : o_(std::move(o)) {}
  // Nothing to object to: true. Otherwise false, with res holding the 401/403 and its reason.
  // A right ?token= also sets the cookie, so the page's own requests and links need nothing.
  bool admit(const httplib::Request& req, httplib::Response& res);
  void set_port(int port) { o_.port = port; }  // once bound (port 0: any free port)
  uint64_t refused(Refusal r) const { return refused_[static_cast<size_t>(r)].load(); }
  // vgpud_web_refused_total{reason=...} in the Prometheus text format.
  std::string metrics() const;
  std::string cookie_name() const;  // per port: cookies are not told apart by port

 private:
  bool has_token(const httplib::Request& req, bool& from_query) const;
  bool refuse(const httplib::Request& req, httplib::Response& res, Refusal why, int status, const std::string& text);

  AccessOptions o_;
  std::array<std::atomic<uint64_t>, kReasons> refused_{};
};

}  // namespace vgd::web
