#include "outputs.h"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace vgd::ctl {
namespace {

int fail(const std::string& msg) {
  fmt::print(stderr, "vgpuctl: {}\n", msg);
  return 1;
}

std::string mode_text(const client::OutputInfo& o) {
  if (!o.width) return "-";
  return fmt::format("{}x{}@{:g}", o.width, o.height, o.refresh_mhz / 1000.0);
}

std::string shows(const client::OutputInfo& o) {
  if (o.lessee) return fmt::format("leased to lessee {}", o.lessee);
  if (!o.vgpu) return "-";
  return fmt::format("vGPU {} pipe {}{}", o.vgpu, o.pipe, o.by_config ? " (config)" : "");
}

Expected<client::Connection, int> connect(const std::string& socket, const char* name) {
  auto c = client::Connection::connect(socket, name);
  if (!c) return Unexpected(fail(c.error().message));
  if (!(c->server().features & proto::kFeatureDirectFlip))
    return Unexpected(fail("vgpud has no host display: direct flip is off (see [host_display] in docs/config.md)"));
  return std::move(*c);
}

}  // namespace

std::string outputs_table(const client::Outputs& o) {
  std::string s = fmt::format("host display: {}\n{:<12} {:<10} {:<16} {}\n", o.display, "OUTPUT", "CONNECTED", "MODE", "SHOWS");
  for (const auto& out : o.outputs)
    s += fmt::format("{:<12} {:<10} {:<16} {}\n", out.name, out.connected ? "yes" : "no", mode_text(out), shows(out));
  return s;
}

nlohmann::json outputs_json(const client::Outputs& o) {
  nlohmann::json outs = nlohmann::json::array();
  for (const auto& out : o.outputs) {
    nlohmann::json j = {{"name", out.name}, {"connected", out.connected}, {"width", out.width}, {"height", out.height},
                        {"refresh_mhz", out.refresh_mhz}, {"vgpu", nullptr}};
    if (out.vgpu) j["vgpu"] = {{"id", out.vgpu}, {"pipe", std::string(1, out.pipe)}, {"by_config", out.by_config}};
    j["lessee"] = out.lessee ? nlohmann::json(out.lessee) : nlohmann::json(nullptr);
    outs.push_back(std::move(j));
  }
  return {{"display", o.display}, {"outputs", std::move(outs)}};
}

int run_outputs(const std::string& socket, bool as_json) {
  auto c = connect(socket, "vgpuctl outputs");
  if (!c) return c.error();
  auto o = c->outputs();
  if (!o) return fail(o.error().message);
  fmt::print("{}", as_json ? outputs_json(*o).dump(2) + "\n" : outputs_table(*o));
  return 0;
}

int run_assign(const std::string& socket, uint32_t vgpu, const std::string& output, char pipe) {
  // Blocked before anything else, so a Ctrl-C while connecting is waited for below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto c = connect(socket, "vgpuctl assign");
  if (!c) return c.error();
  auto done = c->assign_output(vgpu, output, static_cast<uint32_t>(pipe - 'A'));
  if (!done) return fail(fmt::format("vGPU {} on {}: {}", vgpu, output, done.error().message));
  fmt::print("vGPU {} pipe {} is on {} ({}); Ctrl-C takes it off\n", vgpu, pipe, done->name, mode_text(*done));
  std::fflush(stdout);
  for (;;) {
    const timespec second{1, 0};
    const int sig = sigtimedwait(&stop, nullptr, &second);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (sig < 0 && errno != EAGAIN && errno != EINTR) return fail(fmt::format("sigtimedwait: {}", std::strerror(errno)));
    // Still ours? Someone may have unassigned it, or the daemon gone.
    auto o = c->outputs();
    if (!o) return fail(fmt::format("vgpud: {}", o.error().message));
    const bool ours = std::any_of(o->outputs.begin(), o->outputs.end(), [&](const client::OutputInfo& x) {
      return x.name == output && x.vgpu == vgpu && x.pipe == pipe;
    });
    if (!ours) {
      fmt::print("vGPU {} pipe {} is no longer on {}\n", vgpu, pipe, output);
      return 0;
    }
  }
  // Closing the connection would release it too; saying so is clearer in the daemon's log.
  if (auto off = c->unassign_output(vgpu, static_cast<uint32_t>(pipe - 'A')); !off) return fail(off.error().message);
  fmt::print("vGPU {} pipe {} is off {}\n", vgpu, pipe, output);
  return 0;
}

int run_unassign(const std::string& socket, uint32_t vgpu, char pipe) {
  auto c = connect(socket, "vgpuctl unassign");
  if (!c) return c.error();
  if (auto off = c->unassign_output(vgpu, static_cast<uint32_t>(pipe - 'A')); !off)
    return fail(fmt::format("vGPU {} pipe {}: {}", vgpu, pipe, off.error().message));
  fmt::print("vGPU {} pipe {} is off its output\n", vgpu, pipe);
  return 0;
}

}  // namespace vgd::ctl
