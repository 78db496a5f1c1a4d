// A real RFB client (libvncclient) for the parts that measure the VNC viewers (vnc.cpp,
// vm_drm.cpp), and a VNC stream to point it at.
#pragma once

#include <fmt/format.h>
#include <rfb/rfbclient.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "common.h"
#include "viewers/vnc_stream.h"

namespace vgd::daemon_bench {

inline void quiet(const char*, ...) {}

// A libvncclient on its own thread; remembers when pixel (0, 0) last changed to what.
class RfbClient {
 public:
  RfbClient(int port, const char* encodings) {
    rfbClientLog = rfbClientErr = quiet;  // libvncclient's chatter
    cl_ = rfbGetClient(8, 3, 4);
    cl_->serverHost = ::strdup("127.0.0.1");
    cl_->serverPort = port;
    cl_->appData.encodingsString = encodings;
    cl_->GotFrameBufferUpdate = &RfbClient::on_update;
    cl_->FinishedFrameBufferUpdate = [](rfbClient* c) {
      static_cast<RfbClient*>(rfbClientGetClientData(c, &kTag))->updates_.fetch_add(1, std::memory_order_relaxed);
    };
    rfbClientSetClientData(cl_, &kTag, this);
    if (!rfbInitClient(cl_, nullptr, nullptr)) {
      cl_ = nullptr;  // freed by libvncclient on failure
      die(fmt::format("libvncclient could not connect to port {}", port));
    }
    thread_ = std::thread([this] {
      while (!stop_.load(std::memory_order_relaxed)) {
        const int n = WaitForMessage(cl_, 20'000);
        if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl_))) break;
      }
    });
  }
  ~RfbClient() {
    stop_ = true;
    thread_.join();
    rfbClientCleanup(cl_);
  }
  RfbClient(const RfbClient&) = delete;
  RfbClient& operator=(const RfbClient&) = delete;

  uint32_t corner() const { return corner_.load(std::memory_order_acquire); }  // 0x00RRGGBB
  int64_t corner_ns() const { return corner_ns_.load(std::memory_order_acquire); }
  uint64_t updates() const { return updates_.load(std::memory_order_relaxed); }  // FramebufferUpdates

 private:
  static inline char kTag;
  static void on_update(rfbClient* c, int x, int y, int, int) {
    auto* self = static_cast<RfbClient*>(rfbClientGetClientData(c, &kTag));
    if (x != 0 || y != 0) return;
    const uint8_t* p = c->frameBuffer;  // 32 bpp, red at bit 0
    const uint32_t rgb = uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2];
    if (rgb != self->corner_.load(std::memory_order_relaxed)) {
      self->corner_ns_.store(now_ns(), std::memory_order_relaxed);
      self->corner_.store(rgb, std::memory_order_release);
    }
  }

  rfbClient* cl_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> corner_{0xFFFFFFFF};
  std::atomic<int64_t> corner_ns_{0};
  std::atomic<uint64_t> updates_{0};
};

// A VNC stream of vGPU `vgpu` from vgpud at `socket`, on a free port.
inline std::unique_ptr<viewers::VncStream> vnc_stream_for(const std::string& socket, uint32_t vgpu) {
  viewers::VncOptions o;
  o.socket_path = socket;
  o.vgpu = vgpu;
  o.port = 0;
  auto s = viewers::VncStream::start(o);
  if (!s) die("VNC stream: " + s.error());
  return std::move(*s);
}

}  // namespace vgd::daemon_bench
