#include "viewers/monitor_stream.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "viewers/damage.h"
#include "viewers/display_off.h"

namespace vgd::viewers {

struct MonitorStream::Impl {
  std::unique_ptr<RfbServer> rfb;
  std::mutex mu;
  std::condition_variable wake;
  std::shared_ptr<const fb::Image> offered;  // under mu
  bool fresh = false;     // under mu: offered was not taken yet
  bool stopping = false;  // under mu
  bool newcomer = false;  // under mu: a client waits to be admitted
  std::atomic<uint64_t> sent{0};
  fb::Image shown;  // the thread's: what the framebuffer holds
  std::thread thread;

  void run();
  void show(const fb::Image& pic);
};

Expected<std::unique_ptr<MonitorStream>, std::string> MonitorStream::start(const RfbOptions& o, uint32_t width,
                                                                           uint32_t height) {
  auto impl = std::make_unique<Impl>();
  Impl* raw = impl.get();
  auto rfb = RfbServer::start(o, width, height, [raw] {
    const std::lock_guard lk(raw->mu);
    raw->newcomer = true;
    raw->wake.notify_one();
  });
  if (!rfb) return Unexpected(rfb.error());
  raw->rfb = std::move(*rfb);
  raw->shown = render_display_off(width, height, "no picture from the host output yet");
  raw->rfb->update(raw->shown, {Rect{0, 0, width, height}});
  raw->thread = std::thread([raw] {
    ::pthread_setname_np(::pthread_self(), "monitor-vnc");
    raw->run();
  });
  return std::unique_ptr<MonitorStream>(new MonitorStream(std::move(impl)));
}

MonitorStream::MonitorStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MonitorStream::~MonitorStream() {
  {
    const std::lock_guard lk(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  impl_->thread.join();
  impl_->rfb.reset();
}

void MonitorStream::offer(std::shared_ptr<const fb::Image> picture) {
  {
    const std::lock_guard lk(impl_->mu);
    impl_->offered = std::move(picture);
    impl_->fresh = true;
  }
  impl_->wake.notify_one();
}

int MonitorStream::port() const { return impl_->rfb->port(); }
uint32_t MonitorStream::clients() const { return impl_->rfb->clients(); }
std::array<uint64_t, kWsRefusals> MonitorStream::websocket_refused() const { return impl_->rfb->websocket_refusals(); }
void MonitorStream::set_dashboard_port(int port) { impl_->rfb->set_dashboard_port(port); }
uint64_t MonitorStream::pictures_sent() const { return impl_->sent.load(); }

void MonitorStream::Impl::run() {
  using namespace std::chrono_literals;
  bool off_shown = false;
  for (;;) {
    std::shared_ptr<const fb::Image> pic;
    bool have = false, admit = false;
    {
      std::unique_lock lk(mu);
      wake.wait(lk, [this] { return stopping || fresh || newcomer; });
      if (stopping) return;
      have = fresh;
      pic = offered;
      fresh = false;
      admit = newcomer;
      newcomer = false;
    }
    if (have) {
      if (pic) {
        show(*pic);
        off_shown = false;
      } else if (!off_shown) {
        show(render_display_off(shown.width, shown.height, "the host output is off"));
        off_shown = true;
      }
    }
    // Newcomers start with the picture as it is now (RfbServer holds them until this call).
    if (admit) rfb->admit_clients();
  }
}

void MonitorStream::Impl::show(const fb::Image& pic) {
  if (pic.width != shown.width || pic.height != shown.height) {
    rfb->resize(pic);
    shown = pic;
    ++sent;
    return;
  }
  const Damage d = diff_tiles(shown.px, pic.px, pic.width, pic.height);
  if (d.empty()) return;
  // No cursor is ever set on this screen, so no client draws one into the framebuffer and an
  // update is never held back.
  rfb->update(pic, d.rects);
  for (const Rect& r : d.rects)
    for (uint32_t y = r.y; y < r.y + r.h; ++y)
      std::memcpy(&shown.px[size_t{y} * pic.width + r.x], &pic.px[size_t{y} * pic.width + r.x], size_t{r.w} * 4);
  ++sent;
}

}  // namespace vgd::viewers
