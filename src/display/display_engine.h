// A vGPU's display engine (docs/hardware.md, Pipes, Flips): pipes A–C with their transcoders,
// universal planes 1 (primary) and 2 (sprite) and the cursor. Registers are plain storage except
// PIPECONF (enable → active, starts/stops vblanks), the surface registers (a write is a flip) and
// the flip registers at 0x50080. A synchronous flip latches its surface into SURFLIVE and raises
// flip-done at the next vblank; an async flip does both at once. Only the surface latches: the
// other plane registers act immediately (simpler than hardware's double buffering).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "display/damage_tracker.h"
#include "display/gate_chain.h"
#include "display/interrupts.h"
#include "display/refresh.h"
#include "hw/display.h"
#include "hw/display_regs.h"
#include "mmio/device_context.h"
#include "mmio/register_device.h"

namespace vgd::display {

// Who runs this engine's vblank timer (the vGPU, on the GPU's clock).
class VblankControl {
 public:
  virtual void set_vblank_period(uint64_t period_ns) = 0;  // 0 stops it

 protected:
  ~VblankControl() = default;
};

inline constexpr uint8_t plane_bit(hw::Plane p) { return static_cast<uint8_t>(1u << static_cast<unsigned>(p)); }

// What one vblank did, per pipe: the input of refresh events.
struct VblankReport {
  struct Pipe {
    bool active = false;
    uint8_t latched = 0;  // planes whose synchronous flip latched at this vblank
    uint8_t async = 0;    // planes flipped asynchronously since the previous vblank
    // Damage hints (docs/hardware.md, Damage hints): whether the guest had them on at this
    // vblank, and per hinted plane (primary, sprite) what changed since the previous one.
    bool hinted = false;
    std::array<DamageSet, kHintedPlanes> damage{};
    uint8_t damaged() const {
      uint8_t m = 0;
      for (hw::Plane pl : {hw::Plane::Primary, hw::Plane::Sprite})
        if (!damage[static_cast<size_t>(pl)].empty()) m |= plane_bit(pl);
      return m;
    }
  };
  std::array<Pipe, hw::kPipeCount> pipes{};
};

// Hears a pipe's state bit change (pipe, now active). Refresh events need the off edge at once:
// when the last pipe stops, so do the vblanks that would otherwise carry the news.
using PipeStateListener = std::function<void(hw::Pipe, bool active)>;
// Hears an async flip as it happens (flip-done already raised): direct flip puts it on the host
// display at once instead of at the next vblank.
using AsyncFlipListener = std::function<void(hw::Pipe, hw::Plane)>;

struct DisplayStats {
  std::array<uint64_t, hw::kPipeCount> vblanks{};
  std::array<std::array<uint64_t, hw::kPlaneCount>, hw::kPipeCount> flips{};
  uint64_t held = 0;           // sync flips whose flip-done a gate held past their vblank
  uint64_t hold_timeouts = 0;  // ... raised at the bound although a gate still said no
};

// Which bits a guest may write (the pipe's state bit, the counters and SURFLIVE are the host's,
// even for a failsafe guest) is hw::kDisplayRegs; this class holds the side effects.
class DisplayEngine final : public RegisterDevice {
 public:
  // A pipe lights only with a mode within `limits`, and a lit pipe's mode never leaves them
  // (refused writes are counted in ctx's counters); timings outside kMin..kMaxRefreshMhz run
  // the vblank timer at the nearer bound.
  DisplayEngine(VregFile& regs, DeInterrupts& irq, VblankControl& timer, DeviceContext& ctx, ModeLimits limits)
      : RegisterDevice(regs, hw::kDisplayEngineBlock, hw::kDisplayRegs),
        irq_(&irq),
        timer_(&timer),
        ctx_(&ctx),
        limits_(limits) {}
  ModeLimits limits() const { return limits_; }
  // Async flips of one plane between two vblanks that the async-flip listener hears of at once;
  // more are a storm (docs/guest-attacks.md): flipped and counted, but heard of at the vblank.
  static constexpr uint32_t kMaxAsyncFlipsPerVblank = 16;

  // One emulated vblank for every active pipe.
  VblankReport vblank();
  // Stops every pipe (failsafe, reset): no more vblanks or flip-done events.
  void stop_all();

  // A write to one of the 0x50080 flip registers: `value` flips plane pl of pipe p.
  void mmio_flip(hw::Pipe p, hw::Plane pl, uint32_t value);

  // Flip-done gates (gate_chain.h): a sync flip's flip-done waits until every gate allows it, at
  // most the smallest of their max_hold_vblanks (>= 1) vblanks after it latched; SURFLIVE still
  // latches at its vblank. Adding a gate already in changes its bound. Removing one ends its
  // holds for it and asks the others again (retry_held): with none left, flip-done comes at the
  // latching vblank again and flips held now complete at once. Gates must not add or remove
  // gates from their own calls.
  void add_flip_done_gate(FlipDoneGate* gate, uint32_t max_hold_vblanks);
  void remove_flip_done_gate(FlipDoneGate* gate);
  const GateChain& flip_done_gates() const { return gates_; }
  // Asks the gates again for every held flip and completes those they now allow (a consumer
  // released a buffer): the guest need not wait for the next vblank.
  void retry_held();
  bool held(hw::Pipe p, hw::Plane pl) const { return holds_[hw::index(p)][static_cast<size_t>(pl)].on; }

  // Damage hints, driven by PVINFO (damage_ctl, damage_submit). A submit's rectangles are
  // clipped to the plane as it is now; `whole` ignores them.
  bool damage_hints() const { return damage_.enabled(); }
  void set_damage_hints(bool on) { damage_.set_enabled(on); }
  void submit_damage(hw::Pipe p, hw::Plane pl, std::span<const DamageRect> rects, bool whole, bool with_flip);
  // A refused submit: the plane (every hinted plane when pipe or plane are out of range) is
  // wholly damaged at the next vblank.
  void damage_whole(std::optional<hw::Pipe> p, std::optional<hw::Plane> pl);
  // The plane's shown size: the pipe source for the primary, PLANE_SIZE for the sprite.
  std::pair<uint32_t, uint32_t> plane_size(hw::Pipe p, hw::Plane pl) const;

  bool active(hw::Pipe p) const;
  void set_pipe_state_listener(PipeStateListener l) { pipe_listener_ = std::move(l); }
  void set_async_flip_listener(AsyncFlipListener l) { async_listener_ = std::move(l); }
  uint32_t refresh_mhz() const { return refresh_mhz_; }
  const DisplayStats& stats() const { return stats_; }

 private:
  void on_write(const RegWrite& w) override;
  void on_pipeconf(hw::Pipe p, uint32_t value);
  // The guest's mode for pipe p, checked as it lights: false (counted) when it is too large.
  bool may_light(hw::Pipe p);
  bool mode_fits(hw::Pipe p, const ModeRegs& m);
  // A write (already stored) to a lit pipe's PIPESRC or timings that takes its mode past the
  // limits (counted).
  bool refuses_mode_write(hw::Pipe p, const RegWrite& w);
  void flip(hw::Pipe p, hw::Plane plane, uint32_t surface, bool async);
  void latch(hw::Pipe p, hw::Plane plane);
  // A write that changes a plane's geometry, format or enable (or the pipe source): whole damage.
  void note_plane_write(hw::Pipe p, const RegWrite& w);
  // At the latching vblank: true when a gate holds this flip's flip-done back.
  bool hold(hw::Pipe p, hw::Plane pl, uint32_t previous);
  // One more vblank for a held flip: completes it if the gates agree or the bound is reached.
  void age_hold(hw::Pipe p, hw::Plane pl);
  void end_hold(hw::Pipe p, hw::Plane pl, bool raise, bool timed_out);
  void drop_holds(hw::Pipe p);
  void retime();
  // Tells the listener about every pipe whose state differs from what it last heard. Compares
  // with the registers rather than tracking edges, so a register-file clear (reset) followed by
  // stop_all() is still reported.
  void report_pipe_states();

  DeInterrupts* irq_;
  VblankControl* timer_;
  DeviceContext* ctx_;
  ModeLimits limits_;
  std::array<uint8_t, hw::kPipeCount> pending_{};  // sync flips waiting for a vblank
  std::array<uint8_t, hw::kPipeCount> async_{};    // async flips since the last vblank
  std::array<std::array<uint32_t, hw::kPlaneCount>, hw::kPipeCount> async_count_{};  // ... how many, per plane
  uint32_t refresh_mhz_ = 0;
  uint64_t period_ns_ = 0;
  DisplayStats stats_;
  PipeStateListener pipe_listener_;
  AsyncFlipListener async_listener_;
  uint8_t reported_active_ = 0;  // pipes last reported active, bit per pipe
  struct Hold {
    bool on = false;
    uint32_t previous = 0;
    uint32_t vblanks = 0;  // since it latched
  };
  std::array<std::array<Hold, hw::kPlaneCount>, hw::kPipeCount> holds_{};
  GateChain gates_;
  DamageTracker damage_;
};

// The flip registers at 0x50080..0x5009F, forwarded to the engine.
class MmioFlipPort final : public RegisterDevice {
 public:
  MmioFlipPort(VregFile& regs, DisplayEngine& engine)
      : RegisterDevice(regs, hw::kMmioFlipBlock, hw::kMmioFlipRegs), engine_(&engine) {}

 private:
  void on_write(const RegWrite& w) override;
  DisplayEngine* engine_;
};

}  // namespace vgd::display
