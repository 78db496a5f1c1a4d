// vgpuctl: inspect vGPU types, run the partition demo, run display workloads and snapshot them,
// start a QEMU VM on one of vgpud's vGPUs.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>

#include "client/connection.h"
#include "config/gpu_config.h"
#include "lease.h"
#include "outputs.h"
#include "qemu_command.h"
#include "report.h"
#include "sim/demo.h"
#include "sim/display_demo.h"

namespace {

struct GpuOptions {
  std::string config;
  std::optional<uint64_t> aperture_mib, ggtt_mib;
  std::optional<uint32_t> fences;

  void add_to(CLI::App& app) {
    app.add_option("--config", config, "TOML file with GPU geometry and extra vGPU types")->check(CLI::ExistingFile);
    app.add_option("--aperture-mib", aperture_mib, "aperture (low GM) size in MiB (default 512)");
    app.add_option("--ggtt-mib", ggtt_mib, "GGTT size in MiB (default 4096, at most 4096)");
    app.add_option("--fences", fences, "fence registers on the GPU (default 32)");
  }

  vgd::Expected<std::unique_ptr<vgd::Gpu>, std::string> make_gpu() const {
    vgd::GpuConfig cfg;
    if (!config.empty()) {
      auto loaded = vgd::load_gpu_config(config);
      if (!loaded) return vgd::Unexpected(loaded.error());
      cfg = std::move(*loaded);
    }
    if (aperture_mib) cfg.geometry.aperture_size = *aperture_mib * vgd::kMiB;
    if (ggtt_mib) cfg.geometry.ggtt_size = *ggtt_mib * vgd::kMiB;
    if (fences) cfg.geometry.fence_count = *fences;
    return vgd::Gpu::create(std::move(cfg));
  }
};

int fail(const std::string& msg) {
  fmt::print(stderr, "vgpuctl: {}\n", msg);
  return 1;
}

struct QemuOptions {
  uint32_t vgpu = 0;
  std::string socket = vgd::client::default_socket_path();
  bool dry_run = false;
  std::vector<std::string> command;
};

// Asks vgpud for the vGPU's device socket, then becomes QEMU with the device attached.
int run_qemu(const QemuOptions& o) {
  if (o.dry_run) {  // attaching would take the vGPU from whoever else asks
    auto cmd = vgd::ctl::qemu_command(o.command, 3, o.vgpu);
    if (!cmd) return fail(cmd.error());
    for (const auto& a : *cmd) fmt::print("{}\n", a);
    return 0;
  }
  auto conn = vgd::client::Connection::connect(o.socket, "vgpuctl qemu");
  if (!conn) return fail(conn.error().message);
  auto sock = conn->attach_vm(o.vgpu);
  if (!sock) return fail(fmt::format("vGPU {}: {}", o.vgpu, sock.error().message));
  auto cmd = vgd::ctl::qemu_command(o.command, sock->get(), o.vgpu);
  if (!cmd) return fail(cmd.error());
  // QEMU inherits the device socket (and only that: every other descriptor is close-on-exec).
  if (::fcntl(sock->get(), F_SETFD, 0) != 0) return fail(fmt::format("fcntl: {}", std::strerror(errno)));
  std::vector<char*> argv;
  for (auto& a : *cmd) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  return fail(fmt::format("cannot run {}: {}", argv[0], std::strerror(errno)));
}

int run_display(const GpuOptions& gpu_opt, vgd::DisplayDemoOptions opt, const std::vector<std::string>& workloads,
                const std::string& type, bool as_json) {
  if (!workloads.empty()) opt.guests.clear();
  for (const std::string& w : workloads) {
    auto kind = vgd::parse_workload(w);
    if (!kind) return fail(fmt::format("unknown workload '{}' (desktop, console, video, modeswitch)", w));
    opt.guests.push_back({*kind, type});
  }
  if (!type.empty())
    for (auto& g : opt.guests) g.type = type;
  auto gpu = gpu_opt.make_gpu();
  if (!gpu) return fail(gpu.error());
  vgd::display::VirtualClock clock;
  (*gpu)->set_vblank_clock(&clock);
  auto result = vgd::run_display_demo(**gpu, clock, opt);
  if (!result) return fail(result.error());
  if (as_json)
    fmt::print("{}\n", vgd::ctl::run_json(**gpu, *result).dump(2));
  else
    fmt::print("{}", vgd::ctl::run_table(**gpu, *result));
  gpu->reset();  // its vGPUs leave the clock before the clock goes
  for (const auto& r : result->rows)
    if (!r.error.empty()) return 2;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vgpuctl: vGPU types and the graphics-memory partition demo"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log vGPU lifecycle and guest errors to stderr");

  GpuOptions types_gpu, demo_gpu;
  bool types_as_json = false, demo_as_json = false;
  auto* types = app.add_subcommand("types", "list vGPU types with their sizes and available instances");
  types_gpu.add_to(*types);
  types->add_flag("--json", types_as_json, "print JSON");

  vgd::DemoOptions demo_opt;
  auto* demo = app.add_subcommand("demo", "create vGPUs, each with a ballooned guest, and print the partition map");
  demo_gpu.add_to(*demo);
  demo->add_option("--vgpus", demo_opt.vgpus, "how many vGPUs (default 4)")->check(CLI::Range(1u, 4096u));
  demo->add_option("--type", demo_opt.type, "vGPU type (default GVTg_V5_8)");
  demo->add_flag("--json", demo_as_json, "print JSON");

  GpuOptions run_gpu;
  bool run_as_json = false;
  std::string run_type;  // empty: each workload's default_type
  vgd::DisplayDemoOptions run_opt;
  std::vector<std::string> run_workloads;
  auto* run = app.add_subcommand(
      "run", "create vGPUs whose guests run display workloads, then write a PNG of each vGPU's screen");
  run_gpu.add_to(*run);
  run->add_option("--workloads", run_workloads,
                  "one vGPU per workload: desktop, console, video, modeswitch (default: all four)")
      ->delimiter(',');
  run->add_option("--type", run_type, "vGPU type (default GVTg_V5_8, GVTg_V5_4 for modeswitch)");
  run->add_option("--seconds", run_opt.seconds, "virtual time to run (default 3)")->check(CLI::Range(0.05, 3600.0));
  run->add_option("--out", run_opt.out_dir, "directory for the PNGs (default ./snapshots)");
  run->add_flag("--json", run_as_json, "print JSON");

  QemuOptions qemu_opt;
  auto* qemu = app.add_subcommand("qemu", "run a QEMU VM whose vGPU is one of vgpud's (a vGPU configured guest = \"qemu\")");
  qemu->add_option("--vgpu", qemu_opt.vgpu, "the vGPU's id")->required();
  qemu->add_option("--socket", qemu_opt.socket, "vgpud's socket");
  qemu->add_flag("--dry-run", qemu_opt.dry_run, "print the QEMU command, one argument a line, without asking vgpud (fd=3 stands for the socket)");
  qemu->add_option("command", qemu_opt.command, "the QEMU command, after --")->required();

  // Direct flip (docs/protocol.md §3.10).
  std::string df_socket = vgd::client::default_socket_path();
  bool outputs_as_json = false;
  uint32_t df_vgpu = 0;
  std::string df_output, df_pipe = "A";
  auto* outputs = app.add_subcommand("outputs", "list the host display's outputs and the vGPU on each (direct flip)");
  outputs->add_option("--socket", df_socket, "vgpud's socket");
  outputs->add_flag("--json", outputs_as_json, "print JSON");
  auto* assign = app.add_subcommand("assign", "put a vGPU's pipe on a host output until Ctrl-C (direct flip)");
  assign->add_option("--vgpu", df_vgpu, "the vGPU's id")->required();
  assign->add_option("--output", df_output, "the output's name (vgpuctl outputs), e.g. Virtual-1")->required();
  auto* unassign = app.add_subcommand("unassign", "take a vGPU's pipe off its host output");
  unassign->add_option("--vgpu", df_vgpu, "the vGPU's id")->required();
  for (auto* sub : {assign, unassign}) {
    sub->add_option("--pipe", df_pipe, "the vGPU's pipe: A (default), B or C")->check(CLI::IsMember({"A", "B", "C"}));
    sub->add_option("--socket", df_socket, "vgpud's socket");
  }

  std::string lease_output;
  std::vector<std::string> lease_command;
  auto* lease = app.add_subcommand(
      "lease", "lease a host output (its connector, CRTC and planes) to a command that gets the DRM lease as fd 3 "
               "(VGPU_LEASE_FD=3), until it ends");
  lease->add_option("output", lease_output, "the output's name (vgpuctl outputs), e.g. Virtual-2")->required();
  lease->add_option("command", lease_command, "the command and its arguments, after --")->required();
  lease->add_option("--socket", df_socket, "vgpud's socket");

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(verbose ? spdlog::level::info : spdlog::level::err);

  if (types->parsed()) {
    auto gpu = types_gpu.make_gpu();
    if (!gpu) return fail(gpu.error());
    if (types_as_json)
      fmt::print("{}\n", vgd::ctl::types_json(**gpu).dump(2));
    else
      fmt::print("{}", vgd::ctl::types_table(**gpu));
    return 0;
  }
  if (qemu->parsed()) return run_qemu(qemu_opt);
  if (outputs->parsed()) return vgd::ctl::run_outputs(df_socket, outputs_as_json);
  if (assign->parsed()) return vgd::ctl::run_assign(df_socket, df_vgpu, df_output, df_pipe[0]);
  if (lease->parsed()) return vgd::ctl::run_lease(df_socket, lease_output, lease_command);
  if (unassign->parsed()) return vgd::ctl::run_unassign(df_socket, df_vgpu, df_pipe[0]);
  if (run->parsed()) return run_display(run_gpu, run_opt, run_workloads, run_type, run_as_json);
  auto gpu = demo_gpu.make_gpu();
  if (!gpu) return fail(gpu.error());
  auto rows = vgd::run_partition_demo(**gpu, demo_opt);
  if (!rows) return fail(rows.error());
  if (demo_as_json)
    fmt::print("{}\n", vgd::ctl::demo_json(**gpu, *rows).dump(2));
  else
    fmt::print("{}", vgd::ctl::demo_table(**gpu, *rows));
  for (const auto& r : *rows)
    if (r.guest_result != vgd::guest::Error::None) return 2;
  return 0;
}
