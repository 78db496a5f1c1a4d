// vgpu-kmstest's steps (docs/vm.md, "vgpu-kmstest") on one pipeline of an atomic KMS driver:
// each commits, waits for its flip-done event where the CRTC stays on, checks that events come
// one per commit and in order, and prints one `kmstest: step <name> key=value ...` line.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kmstest/kms.h"
#include "kmstest/patterns.h"
#include "kmstest/scene.h"

namespace vgd::kmstest {

struct Options {
  std::string device = "/dev/dri/card0";
  uint32_t width = 1024, height = 768;  // --mode WxH: the first mode
  uint32_t width2 = 0, height2 = 0;     // --mode2 WxH: the mode change's; 0: chosen from the list
  uint32_t flips = 4;                   // --flips N: step 2's page flips
  uint32_t bench_flips = 0;             // --bench-flips N: only modeset, N flips, off
  bool check_writeback = false;         // --check-writeback: compare vkms's writeback with the scene
  bool wait = true;                     // false with --no-wait
  std::string input;                    // --input PATH: the go-on lines' source; empty: stdin
  int event_timeout_ms = 10'000;        // a hang, not a slow vblank: TCG guests are slow
  bool help = false;
};
bool parse_options(int argc, const char* const* argv, Options& out, std::string& error);
const char* usage();

class Steps {
 public:
  explicit Steps(const Options& opt);
  ~Steps();

  void modeset();         // 1: the first mode, pattern A on the primary plane
  void flip(uint32_t i);  // 2: flip i (1-based) to pattern B (odd) or C (even)
  void cursor(int32_t x, int32_t y);  // 3: the cursor at x, y (either may be negative)
  void overlay(int32_t x, int32_t y, uint32_t width, uint32_t height);  // 4: pattern D
  void mode_change();     // 5: the second mode, pattern A again; cursor and overlay off
  void off();             // 6: CRTC, connector and planes off
  void bench(uint32_t n); // n flips back to back, then a bench-flips line

  const Pipeline& pipeline() const { return pipe_; }
  const drm_mode_modeinfo& mode() const { return mode_; }  // the current mode

 private:
  // Commits req (with a flip-done event unless the CRTC goes off), waits for the event and
  // checks it is this commit's and later than the previous; returns the suffix of facts
  // (" seq=N tv=S.U issued=S.U latency_us=N") for the step's line.
  std::string commit(const AtomicRequest& req, uint32_t flags, bool expect_event);
  std::string flip_to(uint32_t i);
  // Prints a step's line; with --check-writeback first applies it to the scene and checks the
  // composed output against it, adding writeback=ok (a mismatch throws).
  void report(const std::string& line);
  void check_writeback();
  void set_primary(AtomicRequest& req, const DumbBuffer& fb, uint32_t w, uint32_t h) const;
  void set_plane(AtomicRequest& req, const Plane& plane, const DumbBuffer* fb, int32_t x, int32_t y) const;
  std::string modeset_to(const drm_mode_modeinfo& mode, bool others_off);
  const drm_mode_modeinfo& pick_mode(uint32_t w, uint32_t h) const;
  const drm_mode_modeinfo& pick_second_mode() const;

  Options opt_;
  Card card_;
  Pipeline pipe_;
  std::unique_ptr<Blob> mode_blob_;
  std::unique_ptr<DumbBuffer> front_, flip_[2], cursor_, overlay_, writeback_;
  Scene scene_;
  drm_mode_modeinfo mode_{};
  uint64_t commits_ = 0;
  bool have_last_ = false;
  uint32_t last_seq_ = 0;
  uint64_t last_ts_ = 0;
  std::vector<uint64_t> read_us_, event_us_;  // per commit: issue -> read, issue -> timestamp
};

std::unique_ptr<DumbBuffer> pattern_buffer(const Card& card, uint32_t w, uint32_t h, uint32_t format, Pattern p);

}  // namespace vgd::kmstest
