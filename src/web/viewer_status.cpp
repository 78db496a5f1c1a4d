#include "web/viewer_status.h"

namespace vgd::web {

std::vector<server::NamedCount> websocket_refusals(const std::array<uint64_t, viewers::kWsRefusals>& by_reason) {
  std::vector<server::NamedCount> out;
  for (size_t i = 0; i < viewers::kWsRefusals; ++i) out.push_back({viewers::kWsRefusalNames[i], by_reason[i]});
  return out;  // every reason, zeros included: a scraper sees stable series
}

server::ViewerStatus viewer_status(const viewers::VncStats& st) {
  return {st.port,        st.clients,      st.frames, st.updates, st.bytes_sent,
          st.cursor_moves, st.resizes,      websocket_refusals(st.websocket_refused)};
}

}  // namespace vgd::web
