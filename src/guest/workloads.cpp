#include "guest/workloads.h"

#include <algorithm>

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
  for (Surface& s : primary_.surface)
    if (Error e = new_surface(mode_.width, mode_.height, PixelFormat::Xrgb8888, Tiling::X, s); e != Error::None) return e;
  if (Error e = new_surface(kCursorSize, kCursorSize, PixelFormat::Argb8888, Tiling::Linear, cursor_); e != Error::None)
    return e;
  Canvas front = canvas(primary_.surface[0]), cursor = canvas(cursor_);
  render_scene(front, first_frame_);
  render_cursor(cursor);
  primary_.back = 1;
  if (Error e = display.modeset(pipe, mode_, primary_.surface[0]); e != Error::None) return e;
  if (Error e = display.set_cursor(pipe, cursor_.buffer, kHotX, kHotY); e != Error::None) return e;
  const Point at = cursor_position(first_frame_, mode_.width, mode_.height);
  return display.move_cursor(pipe, at.x, at.y);
}

Error DesktopWorkload::frame(uint32_t n) {
  if (!running()) return Error::BadArgument;
  Canvas back = canvas(primary_.back_surface());
  render_scene(back, n);
  if (Error e = display_->flip(pipe_, hw::Plane::Primary, primary_.back_surface()); e != Error::None) return e;
  primary_.swap();
  // After the flip completed: the new picture and the new pointer position show together.
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
  return display.modeset(pipe, mode_, screen_);
}

Error ConsoleWorkload::frame(uint32_t n) {
  if (!running()) return Error::BadArgument;
  if (Error e = display_->wait_vblank(pipe_); e != Error::None) return e;
  Canvas c = canvas(screen_);
  const State s = state(c.height(), n);
  if (s.lines < lines_ || s.top - top_ >= s.rows) {
    render_scene(c, n);  // went back, or scrolled a whole screen: redraw everything
  } else {
    // Like fbcon: scroll what stays by moving memory, then draw only the new rows. Rows below
    // the moved block are all redrawn: they hold new lines or the cursor row.
    const uint32_t shift = s.top - top_;
    if (shift > 0) c.move_rows(0, shift * kLineHeight, (s.rows - shift) * kLineHeight);
    for (uint32_t i = std::max(lines_, s.top); i < s.lines; ++i) draw_log_row(c, i - s.top, i);
    draw_cursor_row(c, s.lines - s.top, s.cursor_on);
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
  for (Surface& s : sprite_.surface)
    if (Error e = new_surface(kWidth, kHeight, format_, Tiling::Linear, s); e != Error::None) return e;
  Canvas bg = canvas(primary_), first = canvas(sprite_.surface[0]);
  render_background(bg);
  render_sprite(first, 0);
  sprite_.back = 1;
  if (Error e = display.modeset(pipe, mode_, primary_); e != Error::None) return e;
  const Point at = sprite_position(0, mode_.width, mode_.height);
  return display.set_sprite(pipe, sprite_.surface[0], at.x, at.y);
}

Error VideoWorkload::frame(uint32_t n) {
  if (!running()) return Error::BadArgument;
  Canvas back = canvas(sprite_.back_surface());
  render_sprite(back, n);
  const Point at = sprite_position(n, mode_.width, mode_.height);
  if (Error e = display_->set_sprite(pipe_, sprite_.back_surface(), at.x, at.y); e != Error::None) return e;
  sprite_.swap();
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
