// The viewers' credentials at start (docs/viewers.md, "Access"): secure by default, so a
// viewer without a configured password or token and without auth = "none" gets one made up.
#pragma once

#include "config/daemon_config.h"

namespace vgd {

// VNC authentication compares 8 characters only: a longer password adds nothing.
inline constexpr size_t kVncPasswordChars = 8;
inline constexpr size_t kWebTokenBytes = 16;  // 128 bits, 32 hex digits

struct MadeUpCredentials {
  bool vnc_password = false;  // cfg.vnc.password was made up here
  bool web_token = false;     // cfg.web.token was
};

// Fills in cfg.vnc.password and cfg.web.token where auth is on and none is set (random, from
// getrandom). Viewers that are disabled get nothing.
MadeUpCredentials fill_in_credentials(DaemonConfig& cfg);

}  // namespace vgd
