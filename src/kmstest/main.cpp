// vgpu-kmstest: drives an atomic KMS driver inside a Linux guest through modeset, page flips,
// cursor, overlay, a mode change and off (docs/vm.md, "vgpu-kmstest"), printing one
// `kmstest: step ...` line per step and, unless --no-wait, waiting for a line on stdin before the
// next, so that a host test can check the exported frame in between over the serial console.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "kmstest/steps.h"

namespace vgd::kmstest {
namespace {

bool parse_u32(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 9) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  out = v;
  return true;
}

bool parse_size(std::string_view s, uint32_t& w, uint32_t& h) {
  const size_t x = s.find('x');
  return x != std::string_view::npos && parse_u32(s.substr(0, x), w) && parse_u32(s.substr(x + 1), h) && w && h;
}

// Blocks until the host says go on; a closed input means nobody is checking any more.
void wait_go_on(std::FILE* in) {
  char line[256];
  if (!std::fgets(line, sizeof line, in)) throw KmsError("input closed while waiting to go on");
}

}  // namespace

const char* usage() {
  return "usage: vgpu-kmstest [--device PATH] [--mode WxH] [--mode2 WxH] [--flips N] [--no-wait]\n"
         "                    [--input PATH] [--bench-flips N] [--event-timeout-ms MS] [--check-writeback]\n";
}

bool parse_options(int argc, const char* const* argv, Options& out, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    const std::string_view v = has_value ? argv[i + 1] : "";
    uint32_t n = 0;
    bool ok = has_value;
    if (a == "--help" || a == "-h") {
      out.help = true;
      continue;
    } else if (a == "--no-wait") {
      out.wait = false;
      continue;
    } else if (a == "--check-writeback") {
      out.check_writeback = true;
      continue;
    } else if (a == "--input") {
      out.input = v;
    } else if (a == "--device") {
      out.device = v;
    } else if (a == "--mode") {
      ok = ok && parse_size(v, out.width, out.height);
    } else if (a == "--mode2") {
      ok = ok && parse_size(v, out.width2, out.height2);
    } else if (a == "--flips") {
      ok = ok && parse_u32(v, out.flips) && out.flips > 0;
    } else if (a == "--bench-flips") {
      ok = ok && parse_u32(v, out.bench_flips) && out.bench_flips > 0;
    } else if (a == "--event-timeout-ms") {
      ok = ok && parse_u32(v, n) && n > 0;
      out.event_timeout_ms = static_cast<int>(n);
    } else {
      error = "unknown argument " + std::string(a);
      return false;
    }
    if (!ok) {
      error = "bad or missing value for " + std::string(a);
      return false;
    }
    ++i;
  }
  return true;
}

}  // namespace vgd::kmstest

int main(int argc, char** argv) {
  using namespace vgd::kmstest;
  Options opt;
  std::string error;
  if (!parse_options(argc, argv, opt, error)) {
    std::fprintf(stderr, "vgpu-kmstest: %s\n%s", error.c_str(), usage());
    return 2;
  }
  if (opt.help) {
    std::fputs(usage(), stdout);
    return 0;
  }
  const char* step = "open";
  try {
    struct Closer {
      void operator()(std::FILE* f) const { std::fclose(f); }
    };
    std::unique_ptr<std::FILE, Closer> input;
    if (!opt.input.empty() && opt.wait && !(input.reset(std::fopen(opt.input.c_str(), "re")), input))
      throw KmsError("cannot open " + opt.input + ": " + std::strerror(errno));
    std::FILE* in = input ? input.get() : stdin;
    Steps s(opt);
    const auto done = [&] {
      if (opt.wait && opt.bench_flips == 0) wait_go_on(in);
    };
    step = "modeset";
    s.modeset();
    done();
    if (opt.bench_flips) {
      step = "bench-flips";
      s.bench(opt.bench_flips);
    } else {
      for (uint32_t i = 1; i <= opt.flips; ++i) {
        step = "flip";
        s.flip(i);
        done();
      }
      // Inside, across the top-left corner (tip clipped), across the bottom-right corner.
      const drm_mode_modeinfo& m = s.mode();
      const int32_t w = m.hdisplay, h = m.vdisplay;
      const int32_t positions[][2] = {{100, 50}, {-20, -10}, {-40, 30}, {w - 32, h - 16}, {10, 10}};
      for (const auto& p : positions) {
        step = "cursor";
        s.cursor(p[0], p[1]);
        done();
      }
      // Clear of the cursor's last place, so either can be checked alone.
      step = "overlay";
      s.overlay(w / 4, h / 4, static_cast<uint32_t>(w / 2), static_cast<uint32_t>(h / 2));
      done();
      step = "mode";
      s.mode_change();
      done();
    }
    step = "off";
    s.off();
    return 0;
  } catch (const std::exception& e) {
    std::printf("kmstest: failed at %s: %s\n", step, e.what());
    std::fflush(stdout);
    return 1;
  }
}
