// Where vgpud listens unless told otherwise: one rule for the daemon and its clients.
#pragma once

#include <cstdlib>
#include <string>

namespace vgd::proto {

// $XDG_RUNTIME_DIR/vgpud.sock when set, else /run/vgpud/vgpud.sock.
inline std::string default_socket_path() {
  const char* dir = std::getenv("XDG_RUNTIME_DIR");
  if (dir && *dir) return std::string(dir) + "/vgpud.sock";
  return "/run/vgpud/vgpud.sock";
}

}  // namespace vgd::proto
