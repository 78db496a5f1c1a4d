// One guest VM's life on its vGPU, as the demos and the daemon run it: detect PVINFO, balloon,
// say display ready, start a workload, then present frames until told to stop. The first failure
// is kept with the step that failed; after it the session does nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "guest/workloads.h"
#include "sim/inprocess.h"

namespace vgd {

enum class Workload : uint8_t { Desktop, Console, Video, ModeSwitch };
inline constexpr Workload kWorkloads[] = {Workload::Desktop, Workload::Console, Workload::Video, Workload::ModeSwitch};
std::string_view name(Workload w);
std::optional<Workload> parse_workload(std::string_view s);

class GuestSession {
 public:
  // mode_switch_frame: when a ModeSwitch workload changes mode.
  GuestSession(std::unique_ptr<InProcessGuest> guest, Workload w, uint32_t mode_switch_frame = 180);

  // Probe, balloon, display ready, workload start.
  void boot();
  // The next frame (1, 2, ...); false once the session has failed.
  bool frame();
  // Pipe off and buffers freed, if it got that far.
  void stop();

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }  // "<step>: <reason>"
  guest::Error status() const { return status_; }
  uint32_t frames() const { return frames_; }
  Workload workload() const { return kind_; }
  InProcessGuest& guest() { return *guest_; }
  const InProcessGuest& guest() const { return *guest_; }

 private:
  using Any = std::variant<guest::DesktopWorkload, guest::ConsoleWorkload, guest::VideoWorkload,
                           guest::ModeSwitchWorkload>;
  static Any make(Workload w, uint32_t switch_frame);
  void check(guest::Error e, const char* step);

  std::unique_ptr<InProcessGuest> guest_;
  Workload kind_;
  Any workload_;
  uint32_t frames_ = 0;
  guest::Error status_ = guest::Error::None;
  std::string error_;
};

}  // namespace vgd
