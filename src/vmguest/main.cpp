// vgpu-guest: the guest driver core and its workloads, run inside a Linux VM on the vGPU that a
// QEMU VM sees as a PCI device (docs/vm.md, Inside the VM). Every line it prints starts with
// "vgpu-guest: " so that a test reading the serial console can tell it from the kernel's.
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "guest/display.h"
#include "guest/driver.h"
#include "guest/session.h"
#include "hw/bar.h"
#include "vmguest/linux_ports.h"
#include "vmguest/options.h"
#include "vmguest/pci.h"
#include "vmguest/platform.h"

namespace {

using namespace vgd;
using namespace vgd::vmguest;

// Exit codes: what a test or the init script can tell apart without parsing text.
enum Exit : int { kOk = 0, kFailed = 1, kUsage = 2, kNoDevice = 3, kNoRam = 4 };

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  std::fputs("vgpu-guest: ", stdout);
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::fputc('\n', stdout);
  std::fflush(stdout);  // the serial console is the only witness if the VM dies next
}

std::string read_cmdline() {
  std::string s;
  if (FILE* f = std::fopen("/proc/cmdline", "re")) {
    char buf[1024];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
  }
  return s;
}

uint64_t now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_nsec);
}

// What one trapped access costs, seen from inside the VM: a register with no side effects (plain
// storage in the register file, docs/design.md "A trapped access"), read and written n times.
void bench_mmio(guest::MmioPort& mmio, uint32_t n) {
  constexpr uint64_t kPlain = 0x1000;
  uint64_t sum = 0;
  const uint64_t t0 = now_ns();
  for (uint32_t i = 0; i < n; ++i) sum += mmio.read32(kPlain);
  const uint64_t t1 = now_ns();
  for (uint32_t i = 0; i < n; ++i) mmio.write32(kPlain, i);
  const uint64_t t2 = now_ns();
  say("bench-mmio: %u reads %.2f us/access, %u writes %.2f us/access (checksum %llu)", n,
      static_cast<double>(t1 - t0) / n / 1000.0, n, static_cast<double>(t2 - t1) / n / 1000.0,
      static_cast<unsigned long long>(sum));
}

int run(const Options& opt) {
  const auto dev = find_pci_device(opt.sysfs, opt.vendor, opt.device);
  if (!dev) {
    say("no vGPU device: no PCI device %04x:%04x under %s", opt.vendor, opt.device, opt.sysfs.c_str());
    return kNoDevice;
  }
  const std::optional<GpaRange> ram = opt.ram ? opt.ram : reservation_in_cmdline(read_cmdline());
  if (!ram) {
    say("no RAM for buffers: boot the kernel with memmap=<size>$<start> or pass --ram <size>$<start>");
    return kNoRam;
  }
  const guest::Platform platform = platform_for(*dev, *ram, opt.ggtt_size, opt.aperture_size);
  say("device %s, BAR0 %llu MiB, GGTT %llu MiB (aperture %llu MiB), RAM [%#llx, %#llx)", dev->path.c_str(),
      static_cast<unsigned long long>(dev->bar_size[0] >> 20), static_cast<unsigned long long>(platform.ggtt_size >> 20),
      static_cast<unsigned long long>(platform.aperture_size >> 20),
      static_cast<unsigned long long>(ram->begin.value()), static_cast<unsigned long long>(ram->end().value()));
  if (platform.ggtt_size == 0) {
    say("BAR0 of %llu bytes holds no GGTT (needs more than %llu): pass --ggtt-size",
        static_cast<unsigned long long>(dev->bar_size[0]), static_cast<unsigned long long>(hw::kGttOffset));
    return kFailed;
  }
  const FileMapping bar(dev->path + "/resource0", 0, dev->bar_size[0]);
  const FileMapping mem(opt.mem, ram->begin.value(), ram->size);
  for (const FileMapping* m : {&bar, &mem}) {
    if (!*m) {
      say("%s", m->error().c_str());
      return kFailed;
    }
  }
  BarMmio mmio(bar);
  if (opt.bench_mmio) bench_mmio(mmio, opt.bench_mmio);
  PhysRam phys(mem, *ram);
  PollIdle idle(mmio);
  guest::Driver driver(mmio, phys, platform);
  guest::Display display(driver, idle);
  guest::Session session(driver, display, opt.workload);

  if (session.boot() != guest::Error::None) {
    say("failed at %s: %s", session.failed_step(), guest::describe(session.status()));
    return kFailed;
  }
  say("running %.*s on vGPU %u", static_cast<int>(name(opt.workload).size()), name(opt.workload).data(),
      driver.resources().vgt_id);
  while (!g_stop && (opt.frames == 0 || session.frames() < opt.frames)) {
    if (session.frame() != guest::Error::None) break;
    if (session.frames() % 60 == 0) say("frame %u", session.frames());
  }
  if (opt.hold && session.ok() && !g_stop) {
    // A picture that stays put, for whoever compares it with the same frame rendered elsewhere.
    say("holding frame %u", session.frames());
    while (!g_stop) ::pause();  // until a signal: no traps meanwhile
  }
  session.stop();
  (void)driver.set_display_ready(false);
  if (!session.ok()) {
    say("failed at %s after %u frames: %s", session.failed_step(), session.frames(), guest::describe(session.status()));
    return kFailed;
  }
  say("done: %u frames", session.frames());
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  std::string error;
  if (!parse_args(argc, argv, opt, error)) {
    std::fprintf(stderr, "vgpu-guest: %s\n%s", error.c_str(), usage());
    return kUsage;
  }
  if (opt.help) {
    std::fputs(usage(), stdout);
    return kOk;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  return run(opt);
}
