// A VNC viewer's numbers as the status snapshot reports them (server::ViewerStatus): the one
// conversion from the viewers' stats, so /api and /metrics show what the viewer counted.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "server/status.h"
#include "viewers/vnc_stream.h"

namespace vgd::web {

server::ViewerStatus viewer_status(const viewers::VncStats& st);
// A VNC port's door's refusals by reason name (viewers::kWsRefusalNames), zeros included.
std::vector<server::NamedCount> websocket_refusals(const std::array<uint64_t, viewers::kWsRefusals>& by_reason);

}  // namespace vgd::web
