#include "config/viewer_access.h"

#include "util/secrets.h"

namespace vgd {

MadeUpCredentials fill_in_credentials(DaemonConfig& cfg) {
  MadeUpCredentials made;
  if (cfg.vnc.enabled && cfg.vnc.auth && cfg.vnc.password.empty()) {
    cfg.vnc.password = random_password(kVncPasswordChars);
    made.vnc_password = true;
  }
  if (cfg.web.enabled && cfg.web.auth && cfg.web.token.empty()) {
    cfg.web.token = random_hex(kWebTokenBytes);
    made.web_token = true;
  }
  return made;
}

}  // namespace vgd
