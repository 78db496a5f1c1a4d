#include "guest/workloads.h"

#include <algorithm>
#include <utility>

namespace vgd::guest {

using hw::Tiling;

// --- shared plumbing ---

void WorkloadBase::bind(Display& display, Driver& driver, hw::Pipe pipe) {
  display_ = &display;
  driver_ = &driver;
  pipe_ = pipe;
}

Error WorkloadBase::new_surface(uint32_t width, uint32_t height, PixelFormat f, Tiling t, Surface& out) {
  if (owned_count_ == kMaxOwned) return Error::TooManyBuffers;
  if (Error e = display_->create_surface(width, height, f, t, out); e != Error::None) return e;
  owned_[owned_count_++] = out.buffer;
  return canvas(out).valid() ? Error::None : Error::NoRamSpace;
}

Error WorkloadBase::stop() {
  if (display_ == nullptr) return Error::None;
  // Planes off before the buffers go: the host must never scan out unbound GGTT entries.
  Error result = display_->disable(pipe_);
  while (owned_count_ > 0) {
    const Error e = driver_->free_buffer(owned_[--owned_count_]);
    if (result == Error::None) result = e;
  }
  return result;
}

// --- desktop ---

Error DesktopWorkload::start(Display& display, Driver& driver, hw::Pipe pipe) {
  bind(display, driver, pipe);
  for (uint32_t i = 0; i < primary_.count; ++i)
    if (Error e = new_surface(mode_.width, mode_.height, PixelFormat::Xrgb8888, Tiling::X, primary_.surface[i]);
        e != Error::None)
      return e;
  if (Error e = new_surface(kCursorSize, kCursorSize, PixelFormat::Argb8888, Tiling::Linear, cursor_); e != Error::None)
    return e;
  Canvas front = canvas(primary_.surface[0]), cursor = canvas(cursor_);
  render_scene(front, first_frame_);
  render_cursor(cursor);
  primary_.shown = 0;
  primary_.queued = SwapChain::kMax;
  if (Error e = display.modeset(pipe, mode_, primary_.surface[0]); e != Error::None) return e;
  if (Error e = display.set_cursor(pipe, cursor_.buffer, kHotX, kHotY); e != Error::None) return e;
  const Point at = cursor_position(first_frame_, mode_.width, mode_.height);
  return display.move_cursor(pipe, at.x, at.y);
}

Error DesktopWorkload::frame(uint32_t n) {
  if (!running()) return Error::BadArgument;
  const uint32_t back = primary_.next_free();
  Canvas c = canvas(primary_.surface[back]);
  render_scene(c, n);
  if (primary_.queued != SwapChain::kMax) {  // triple buffering: the previous frame lands first
    if (Error e = display_->wait_flip(pipe_, hw::Plane::Primary); e != Error::None) return e;
    primary_.shown = std::exchange(primary_.queued, SwapChain::kMax);
  }
  if (Error e = display_->queue_flip(pipe_, hw::Plane::Primary, primary_.surface[back]); e != Error::None) return e;
  if (primary_.count == 3) {
    primary_.queued = back;
  } else {
    if (Error e = display_->wait_flip(pipe_, hw::Plane::Primary); e != Error::None) return e;
    primary_.shown = back;
  }
  // The pointer moves with the picture (async: it shows at once, the frame at its vblank).
  const Point at = cursor_position(n, mode_.width, mode_.height);
  return display_->move_cursor(pipe_, at.x, at.y);
}

// --- console ---

Error ConsoleWorkload::start(Display& display, Driver& driver, hw::Pipe pipe) {
  bind(display, driver, pipe);
  if (Error e = new_surface(mode_.width, mode_.height, PixelFormat::Xrgb8888, Tiling::Linear, screen_); e != Error::None)
    return e;
  Canvas c = canvas(screen_);
  render_scene(c, 0);
  const State s = state(c.height(), 0);
  top_ = s.top;
  lines_ = s.lines;
  if (Error e = display.modeset(pipe, mode_, screen_); e != Error::None) return e;
  // Like a DRM driver's fbdev with dirty callbacks: tell the host which rows each frame wrote.
  if (display.damage_hints_offered()) return display.set_damage_hints(true);
  return Error::None;
}

Error ConsoleWorkload::frame(uint32_t n) {
  if (!running()) return Error::BadArgument;
  if (Error e = display_->wait_vblank(pipe_); e != Error::None) return e;
  Canvas c = canvas(screen_);
  const State s = state(c.height(), n);
  if (s.lines < lines_ || s.top - top_ >= s.rows) {
    render_scene(c, n);  // went back, or scrolled a whole screen: redraw everything
    display_->submit_damage(pipe_, hw::Plane::Primary, nullptr, hw::damage::kMaxRects + 1, false);
  } else {
    // Like fbcon: scroll what stays by moving memory, then draw only the new rows. Rows below
    // the moved block are all redrawn: they hold new lines or the cursor row.
    const uint32_t shift = s.top - top_;
    if (shift > 0) c.move_rows(0, shift * kLineHeight, (s.rows - shift) * kLineHeight);
    const uint32_t first = std::max(lines_, s.top) - s.top, cursor_row = s.lines - s.top;
    for (uint32_t i = std::max(lines_, s.top); i < s.lines; ++i) draw_log_row(c, i - s.top, i);
    draw_cursor_row(c, cursor_row, s.cursor_on);
    // Rows from the first one written (the top when it scrolled) down to the cursor row.
    const uint32_t top = shift > 0 ? 0 : first;
    const DamageBox rows{0, static_cast<uint16_t>(top * kLineHeight), static_cast<uint16_t>(c.width()),
                         static_cast<uint16_t>((cursor_row + 1 - top) * kLineHeight)};
    display_->submit_damage(pipe_, hw::Plane::Primary, &rows, 1, false);
  }
  top_ = s.top;
  lines_ = s.lines;
  return Error::None;
}

// --- video ---

Error VideoWorkload::start(Display& display, Driver& driver, hw::Pipe pipe) {
  bind(display, driver, pipe);
  if (Error e = new_surface(mode_.width, mode_.height, PixelFormat::Xrgb8888, Tiling::Linear, primary_);
      e != Error::None)
    return e;
  for (uint32_t i = 0; i < sprite_.count; ++i)
    if (Error e = new_surface(kWidth, kHeight, format_, Tiling::Linear, sprite_.surface[i]); e != Error::None) return e;
  Canvas bg = canvas(primary_), first = canvas(sprite_.surface[0]);
  render_background(bg);
  render_sprite(first, 0);
  sprite_.shown = 0;
  if (Error e = display.modeset(pipe, mode_, primary_); e != Error::None) return e;
  const Point at = sprite_position(0, mode_.width, mode_.height);
  return display.set_sprite(pipe, sprite_.surface[0], at.x, at.y);
}

Error VideoWorkload::frame(uint32_t n) {
  if (!running()) return Error::BadArgument;
  const uint32_t back = sprite_.next_free();
  Canvas c = canvas(sprite_.surface[back]);
  render_sprite(c, n);
  const Point at = sprite_position(n, mode_.width, mode_.height);
  if (Error e = display_->set_sprite(pipe_, sprite_.surface[back], at.x, at.y); e != Error::None) return e;
  sprite_.shown = back;
  return Error::None;
}

// --- mode switch ---

Error ModeSwitchWorkload::start(Display& display, Driver& driver, hw::Pipe pipe) {
  display_ = &display;
  driver_ = &driver;
  pipe_ = pipe;
  return desktop_.start(display, driver, pipe);
}

Error ModeSwitchWorkload::frame(uint32_t n) {
  if (n != switch_frame_ || display_ == nullptr) return desktop_.frame(n);  // not started: refused there
  if (Error e = desktop_.stop(); e != Error::None) return e;
  desktop_ = DesktopWorkload(second_, n);  // new surfaces at the new size, showing frame n
  return desktop_.start(*display_, *driver_, pipe_);
}

}  // namespace vgd::guest
