// Guest display workloads that look like real screens and drive different display paths: a
// desktop (X-tiled double buffer, sync flips, moving ARGB cursor), a boot console (linear front
// buffer drawn in place, vblank-paced), a video overlay (YUV sprite double buffer moving over a
// static primary) and a mode switch (the desktop torn down and lit again at another size).
// Each picture is a pure function of the frame number n, so a test can render the same scene
// into a plain canvas and compare it with what the host shows. Heap-free, like the driver.
#pragma once

#include <cstdint>

#include "guest/canvas.h"
#include "guest/display.h"
#include "guest/driver.h"
#include "guest/status.h"
#include "hw/display.h"

namespace vgd::guest {

struct Point {
  int32_t x = 0, y = 0;
};

// Every workload offers a runner the same three calls, without virtual dispatch (the guest core
// needs no C++ runtime support; a host-side runner can hold them in a std::variant):
//   Error start(Display&, Driver&, hw::Pipe)  allocate, draw the first picture, light the pipe
//   Error frame(uint32_t n)                   render and present frame n (1, 2, ... after start;
//                                             BadArgument when not started)
//   Error stop()                              pipe off, every buffer freed (also after a failed
//                                             start)
// WorkloadBase is the plumbing they share: where they draw and the buffers they own.
class WorkloadBase {
 public:
  Error stop();

 protected:
  ~WorkloadBase() = default;
  void bind(Display& display, Driver& driver, hw::Pipe pipe);
  // A surface on this pipe's display, remembered so stop() frees it.
  Error new_surface(uint32_t width, uint32_t height, PixelFormat f, hw::Tiling t, Surface& out);
  Canvas canvas(const Surface& s) { return Canvas(driver_->ram(), s); }
  // Between a start() and a stop(): frame() has buffers to draw into.
  bool running() const { return owned_count_ != 0; }

  Display* display_ = nullptr;
  Driver* driver_ = nullptr;
  hw::Pipe pipe_ = hw::Pipe::A;

 private:
  static constexpr uint32_t kMaxOwned = 4;
  Buffer owned_[kMaxOwned]{};
  uint32_t owned_count_ = 0;
};

// Two or three surfaces of one layout taking turns on a plane: one shown, at most one queued
// for the next vblank (triple buffering), the rest free to draw into.
struct SwapChain {
  static constexpr uint32_t kMax = 3;
  Surface surface[kMax]{};
  uint32_t count = 2;
  uint32_t shown = 0;
  uint32_t queued = kMax;  // kMax: no flip in flight
  uint32_t next_free() const {
    for (uint32_t i = 0; i < count; ++i)
      if (i != shown && i != queued) return i;
    return kMax;  // unreachable with count >= 2
  }
  const Surface& front() const { return surface[shown]; }
};

class DesktopWorkload final : public WorkloadBase {
 public:
  static constexpr uint32_t kFps = 60;  // the clock advances one second every kFps frames
  static constexpr uint32_t kStartSecond = 23 * 3600 + 59 * 60 + 57;  // frame 0 shows 23:59:57
  static constexpr uint32_t kCursorSize = 64;
  static constexpr uint32_t kHotX = 1, kHotY = 1;

  // first_frame: the frame start() shows (a restarted desktop continues where it was).
  // buffers: 2 draws, flips and waits for flip-done; 3 queues each flip and draws the next frame
  // while it is in flight, waiting only before queuing another (the screen then lags a frame).
  explicit DesktopWorkload(const Mode& m = kMode1024x768at60, uint32_t first_frame = 0, uint32_t buffers = 2)
      : mode_(m), first_frame_(first_frame) {
    primary_.count = buffers == 3 ? 3 : 2;
  }
  Error start(Display& display, Driver& driver, hw::Pipe pipe);
  Error frame(uint32_t n);
  const Mode& mode() const { return mode_; }
  const Surface& front() const { return primary_.front(); }  // what the primary plane shows
  // The surface whose flip is in flight (triple buffering), or nullptr.
  const Surface* queued() const { return primary_.queued < primary_.count ? &primary_.surface[primary_.queued] : nullptr; }
  const Surface& cursor() const { return cursor_; }

  // The primary plane's picture at frame n, laid out for the canvas's size (cursor not included).
  static void render_scene(Canvas& c, uint32_t n);
  // "HH:MM:SS" shown at frame n.
  static void clock_text(uint32_t n, char (&out)[9]);
  // CURPOS at frame n: the cursor image's top-left corner, bouncing over the whole screen and
  // partly off every edge (negative at the left and top). The pointer tip is this + hotspot.
  static Point cursor_position(uint32_t n, uint32_t screen_width, uint32_t screen_height);
  // The 64x64 arrow (straight ARGB: white body, black outline, translucent shadow).
  static uint32_t cursor_pixel(uint32_t x, uint32_t y);
  static void render_cursor(Canvas& c);

 private:
  Mode mode_;
  uint32_t first_frame_;
  SwapChain primary_{};
  Surface cursor_{};
};

class ConsoleWorkload final : public WorkloadBase {
 public:
  static constexpr uint32_t kFramesPerLine = 4;  // a new boot log line every 4 frames
  static constexpr uint32_t kLineHeight = 12;    // font rows + leading
  static constexpr uint32_t kBlinkFrames = 30;   // the cursor block is on, then off, this long

  explicit ConsoleWorkload(const Mode& m = kMode1024x768at60) : mode_(m) {}
  Error start(Display& display, Driver& driver, hw::Pipe pipe);
  // Waits for vblank, then updates the front buffer in place: new lines, scrolling, cursor.
  Error frame(uint32_t n);
  const Surface& screen() const { return screen_; }

  // The whole screen at frame n; frame() reaches the same pixels incrementally.
  static void render_scene(Canvas& c, uint32_t n);

 private:
  struct State {
    uint32_t rows, lines, top;  // text rows on screen, log lines so far, first one shown
    bool cursor_on;
  };
  static State state(uint32_t height, uint32_t n);
  // Each row is drawn whole (background band, then text), so rows update independently.
  static void draw_log_row(Canvas& c, uint32_t row, uint32_t line);
  static void draw_cursor_row(Canvas& c, uint32_t row, bool on);

  Mode mode_;
  Surface screen_{};
  uint32_t top_ = 0, lines_ = 0;  // first visible log line and lines drawn so far
};

class VideoWorkload final : public WorkloadBase {
 public:
  static constexpr uint32_t kWidth = 320, kHeight = 240;  // the sprite

  explicit VideoWorkload(const Mode& m = kMode1024x768at60, PixelFormat sprite = PixelFormat::Yuyv)
      : mode_(m), format_(sprite) {}
  Error start(Display& display, Driver& driver, hw::Pipe pipe);
  // Renders the next sprite picture into the back sprite buffer and flips to it (sync) at its
  // new position.
  Error frame(uint32_t n);
  const Surface& primary() const { return primary_; }
  const Surface& sprite() const { return sprite_.front(); }  // what the sprite plane shows

  // The primary (static after start).
  static void render_background(Canvas& c);
  // The sprite's content at frame n, kWidth × kHeight at the canvas's origin: colour bars
  // scrolling 2 pixels a frame and a frame counter, in neutral greys where text meets colour so
  // that 4:2:2 chroma sharing changes nothing.
  static void render_sprite(Canvas& c, uint32_t n);
  // The sprite plane's position at frame n, bouncing inside the screen (never negative).
  static Point sprite_position(uint32_t n, uint32_t screen_width, uint32_t screen_height);
  // Background with the sprite drawn at its position, in RGB (before any YUV rounding).
  static void render_scene(Canvas& c, uint32_t n);

 private:
  Mode mode_;
  PixelFormat format_;
  Surface primary_{};
  SwapChain sprite_{};
};

// The desktop at `first`, then from frame switch_frame on at `second`: pipe disabled, buffers
// freed, new surfaces at the new size, modeset again, cursor set again.
class ModeSwitchWorkload final {
 public:
  explicit ModeSwitchWorkload(uint32_t switch_frame, const Mode& first = kMode1024x768at60,
                              const Mode& second = kMode1920x1080at60)
      : switch_frame_(switch_frame), second_(second), desktop_(first) {}
  Error start(Display& display, Driver& driver, hw::Pipe pipe);
  Error frame(uint32_t n);
  Error stop() { return desktop_.stop(); }

  const Mode& mode() const { return desktop_.mode(); }
  const Surface& front() const { return desktop_.front(); }
  static void render_scene(Canvas& c, uint32_t n) { DesktopWorkload::render_scene(c, n); }

 private:
  uint32_t switch_frame_;
  Mode second_;
  DesktopWorkload desktop_;
  Display* display_ = nullptr;
  Driver* driver_ = nullptr;
  hw::Pipe pipe_ = hw::Pipe::A;
};

}  // namespace vgd::guest
