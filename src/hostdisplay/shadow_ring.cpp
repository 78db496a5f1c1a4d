#include "hostdisplay/shadow_ring.h"

#include <fmt/format.h>

namespace vgd::hostdisplay {

Expected<ShadowRing, std::string> ShadowRing::create(HostDisplay& display, uint32_t width, uint32_t height,
                                                     uint32_t fourcc, uint32_t count) {
  // One on screen and one pending leave nothing to fill with fewer than three; two still work
  // when the engine waits for each flip before the next refill.
  if (count < 2) return Unexpected(fmt::format("a shadow ring needs at least 2 buffers, not {}", count));
  std::vector<Slot> slots(count);
  for (uint32_t i = 0; i < count; ++i) {
    auto b = display.create_buffer(width, height, fourcc);
    if (!b) return Unexpected(fmt::format("shadow buffer {} of {}: {}", i + 1, count, b.error()));
    if ((*b)->pixels().empty()) return Unexpected(fmt::format("shadow buffer {} is not CPU-writable", i + 1));
    slots[i].buffer = std::move(*b);
  }
  return ShadowRing(std::move(slots));
}

void ShadowRing::note_frame(const Region& damage) {
  ++frame_;
  history_.push_back(damage);
  // Buffers take turns, so one lags about as many frames as there are buffers; twice that
  // covers frames that went by unshown. A buffer older still refills whole: correct, slower.
  while (history_.size() > 2 * slots_.size()) history_.pop_front();
}

std::optional<ShadowRing::Acquired> ShadowRing::acquire() {
  const uint32_t n = size();
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t i = (next_ + k) % n;
    Slot& s = slots_[i];
    if (s.state != State::Free) continue;
    Acquired a{i, s.buffer, {}, std::nullopt};
    const uint64_t oldest_known = frame_ - history_.size();  // frames after it have damage here
    if (s.filled_frame == 0 || s.filled_frame < oldest_known || s.filled_frame > frame_) {
      a.refill = Region::whole_picture();
    } else {
      a.age = static_cast<uint32_t>(frame_ - s.filled_frame);
      for (uint64_t f = s.filled_frame + 1; f <= frame_; ++f) a.refill.add(history_[f - oldest_known - 1]);
    }
    s.state = State::Filling;
    s.filling_frame = frame_;
    next_ = (i + 1) % n;
    return a;
  }
  return std::nullopt;
}

void ShadowRing::submitted(uint32_t index) {
  if (index >= size() || slots_[index].state != State::Filling) return;
  Slot& s = slots_[index];
  s.state = State::Pending;
  s.filled_frame = s.filling_frame;
}

void ShadowRing::abandon(uint32_t index) {
  if (index >= size() || slots_[index].state == State::OnScreen) return;
  slots_[index].state = State::Free;
  slots_[index].filled_frame = 0;
  next_ = index;  // the next one to fill, so that buffers keep taking turns
}

void ShadowRing::latched(uint32_t fb_id) {
  for (Slot& s : slots_) {
    const bool ours = s.buffer->fb_id() == fb_id && fb_id != 0;
    if (ours && (s.state == State::Pending || s.state == State::OnScreen)) {
      s.state = State::OnScreen;
    } else if (s.state == State::OnScreen) {
      s.state = State::Free;  // replaced: its contents stay valid for the next refill
    }
  }
}

void ShadowRing::invalidate() {
  for (Slot& s : slots_) s.filled_frame = 0;
  // A buffer being filled now would be marked as holding its frame on submit: it does not.
  for (Slot& s : slots_) s.filling_frame = 0;
  history_.clear();
}

std::optional<uint32_t> ShadowRing::find(State st) const {
  for (uint32_t i = 0; i < size(); ++i)
    if (slots_[i].state == st) return i;
  return std::nullopt;
}

std::optional<uint32_t> ShadowRing::on_screen() const { return find(State::OnScreen); }
std::optional<uint32_t> ShadowRing::pending() const { return find(State::Pending); }

}  // namespace vgd::hostdisplay
