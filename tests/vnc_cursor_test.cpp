// The cursor for clients that can be told its shape but not where it is (noVNC announces the
// Cursor pseudo-encoding but not PointerPos): they would draw it at the local mouse, yet in these
// view-only viewers the guest moves it. Such a client gets it drawn into the picture instead,
// and the drawn cursor follows the guest's moves with nothing else changing on screen.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

#include "daemon_support.h"
#include "vnc_support.h"
#include "viewers/vnc_stream.h"

namespace vgd::test {
namespace {

constexpr int32_t kRaw = 0, kRichCursor = -239, kPointerPos = -232;

// A minimal RFB client over a raw socket: the encodings it announces are exactly ours.
class RawViewer {
 public:
  explicit RawViewer(int port) : s_(raw_rfb(port)) {
    // An update that never comes fails the test instead of hanging it; generous, for a loaded CI.
    const timeval limit{30, 0};
    if (s_) ::setsockopt(s_.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  }
  bool ok() const { return bool(s_); }

  void announce(std::vector<int32_t> encodings) {
    // SetPixelFormat: 32 bpp little-endian true colour, 0x00RRGGBB (as fb::Image).
    uint8_t pf[20] = {0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0};
    send_all(pf, sizeof pf);
    std::vector<uint8_t> m = {2, 0, uint8_t(encodings.size() >> 8), uint8_t(encodings.size())};
    for (int32_t e : encodings) {
      const uint32_t be = htonl(uint32_t(e));
      m.insert(m.end(), reinterpret_cast<const uint8_t*>(&be), reinterpret_cast<const uint8_t*>(&be) + 4);
    }
    send_all(m.data(), m.size());
  }
  void request(uint16_t w, uint16_t h, bool incremental) {
    const uint8_t m[10] = {3, uint8_t(incremental), 0, 0, 0, 0, uint8_t(w >> 8), uint8_t(w), uint8_t(h >> 8), uint8_t(h)};
    send_all(m, sizeof m);
  }
  // Reads one FramebufferUpdate into `picture` (sized w × h); false on anything unexpected.
  bool read_update(fb::Image& picture) {
    uint8_t head[4];
    if (!read_all(head, 4) || head[0] != 0) return false;
    const int n = head[2] << 8 | head[3];
    for (int i = 0; i < n; ++i) {
      uint8_t r[12];
      if (!read_all(r, 12)) return false;
      const uint32_t x = r[0] << 8 | r[1], y = r[2] << 8 | r[3], w = r[4] << 8 | r[5], h = r[6] << 8 | r[7];
      uint32_t enc_be;
      std::memcpy(&enc_be, r + 8, 4);
      const auto enc = int32_t(ntohl(enc_be));
      if (enc == kRichCursor) ++shapes;
      if (enc == kPointerPos) ++positions;
      std::vector<uint8_t> data(enc == kRaw ? size_t{w} * h * 4 : enc == kRichCursor ? size_t{w} * h * 4 + (w + 7) / 8 * h : 0);
      if (enc != kRaw && enc != kRichCursor && enc != kPointerPos) return false;
      if (!read_all(data.data(), data.size())) return false;
      if (enc != kRaw || x + w > picture.width || y + h > picture.height) continue;
      for (uint32_t row = 0; row < h; ++row)
        std::memcpy(&picture.at(x, y + row), data.data() + size_t{row} * w * 4, size_t{w} * 4);
    }
    return true;
  }
  int shapes = 0, positions = 0;

 private:
  void send_all(const void* p, size_t n) { ASSERT_EQ(::send(s_.get(), p, n, MSG_NOSIGNAL), ssize_t(n)); }
  bool read_all(void* p, size_t n) {
    auto* b = static_cast<uint8_t*>(p);
    for (size_t got = 0; got < n;) {
      const ssize_t r = ::recv(s_.get(), b + got, n - got, 0);
      if (r <= 0) return false;
      got += size_t(r);
    }
    return true;
  }
  UniqueFd s_;
};

// Every pixel within one step per channel (libvncserver's cursor blend truncates, ours rounds).
bool close_to(const fb::Image& a, const fb::Image& b) {
  if (a.width != b.width || a.height != b.height) return false;
  for (size_t i = 0; i < a.px.size(); ++i)
    for (int sh : {0, 8, 16})
      if (std::abs(int(a.px[i] >> sh & 0xFF) - int(b.px[i] >> sh & 0xFF)) > 1) return false;
  return true;
}

TEST(VncCursor, AShapeWithoutPositionsIsDrawnInAndFollowsTheGuest) {
  RunningDaemon d;
  DaemonConfig cfg;
  cfg.vgpus = {VgpuSpec{}};  // the desktop: it has a cursor
  d.start(cfg, "vnc-drawn-cursor");
  auto stream = viewers::VncStream::start(vnc_options(d.path));
  ASSERT_TRUE(stream.has_value()) << stream.error();
  RawViewer v((*stream)->port());
  ASSERT_TRUE(v.ok());
  v.announce({kRaw, kRichCursor});  // what noVNC does: a shape, no positions
  d.host->stop_guests();
  auto& display = d.host->find(1)->session().guest().display();
  fb::Image seen{1024, 768, std::vector<uint32_t>(1024 * 768)};
  v.request(1024, 768, false);

  for (const auto& [x, y] : {std::pair{300, 200}, std::pair{310, 205}, std::pair{600, 400}}) {
    ASSERT_EQ(display.move_cursor(hw::Pipe::A, x, y), guest::Error::None);
    const fb::Image want = daemon_picture(d.path, 1, true);
    bool shown = false;
    for (int i = 0; i < 200 && !shown; ++i) {  // each read blocks until an update comes
      ASSERT_TRUE(v.read_update(seen)) << "no update within 30 s while the cursor was at (" << x << ", " << y << ")";
      shown = close_to(seen, want);
      v.request(1024, 768, true);
    }
    EXPECT_TRUE(shown) << "the drawn cursor did not reach (" << x << ", " << y << ")";
  }
  EXPECT_EQ(v.shapes, 0) << "a client that cannot be told where the cursor is got its shape";
  EXPECT_EQ(v.positions, 0);
}

}  // namespace
}  // namespace vgd::test
