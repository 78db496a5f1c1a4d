#include "vm_rig.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "../../tests/vm_shell.h"
#include "client/connection.h"
#include "common.h"

namespace vgd::daemon_bench {

namespace fs = std::filesystem;

std::optional<VmFiles> find_vm_files() {
  VmFiles f;
  const std::string dir = VGD_GUEST_IMAGE_DIR;
  f.kernel = dir + "/vmlinuz";
  f.initrd = dir + "/initramfs.cpio.gz";
  f.vgpuctl = VGPUCTL_PATH;
  for (const char* p : {"/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"})
    if (::access(p, X_OK) == 0) f.qemu = p;
  if (f.qemu.empty() || !fs::exists(f.kernel) || !fs::exists(f.initrd)) {
    std::printf("   skipped: needs qemu-system-x86_64 and the guest image in %s "
                "(cmake --build build --target guest-image)\n", dir.c_str());
    return std::nullopt;
  }
  return f;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0) {
    for (int c = 0; c < CPU_SETSIZE && c < static_cast<int>(std::thread::hardware_concurrency()); ++c) CPU_SET(c, &set);
  } else {
    CPU_SET(cpu, &set);
  }
  for (const auto& task : fs::directory_iterator("/proc/self/task"))
    sched_setaffinity(static_cast<pid_t>(std::stol(task.path().filename().string())), sizeof set, &set);
}

VmRig::VmRig(bool damage_hints) {
  path = fmt::format("/tmp/vgd-vmbench-{}-{}.sock", ::getpid(), damage_hints ? 1 : 0);
  DaemonConfig cfg;
  VgpuSpec vm;
  vm.guest = GuestKind::Qemu;
  vm.damage_hints = damage_hints;
  cfg.vgpus = {vm};
  auto h = server::Host::create(cfg);
  if (!h) die(h.error());
  host = std::move(*h);
  auto s = server::Server::create(*host, {path, 8, false, std::nullopt});
  if (!s) die(s.error());
  srv = std::move(*s);
  loop = std::thread([this] { srv->run(); });
}

VmRig::~VmRig() {
  srv->request_stop();
  loop.join();
  srv.reset();
  host.reset();
}

void VmRig::wait_detached() {
  for (int i = 0; i < 500 && host->find(1)->vm_attached(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

uint64_t VmRig::traps() NO_THREAD_SAFETY_ANALYSIS {
  auto* hv = host->find(1);
  const Locked lk(hv->lock());
  const MmioStats& s = hv->vgpu().mmio_stats();
  uint64_t n = 0;
  for (size_t b = 0; b < s.reads.size(); ++b) n += s.reads[b] + s.writes[b];
  return n;
}

VmRun::VmRun(const VmFiles& f, const std::string& socket, const std::string& append, const VmRunOptions& o) {
  serial_ = fmt::format("/tmp/vgd-vmbench-{}-{}.log", ::getpid(), counter_++);
  const std::string console = serial_ + ".sock";
  fs::remove(serial_);
  fs::remove(console);
  pid_ = ::fork();
  if (pid_ == 0) {
    pin_self(o.cpu);  // QEMU inherits it
    const int null = ::open((serial_ + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(null, 1);
    ::dup2(null, 2);
    const std::string kappend = fmt::format("console=ttyS0 quiet panic=-1 memmap=64M$0x10000000 {}", append);
    std::vector<std::string> argv = {f.qemu, "-nodefaults", "-no-user-config", "-display", "none",
                                     "-no-reboot", "-accel", "tcg", "-m", "512M", "-smp", "1",
                                     "-kernel", f.kernel, "-initrd", f.initrd, "-append", kappend};
    if (o.shell) {
      // QEMU waits for the shell to connect; the log file is what wait_for() reads.
      argv.insert(argv.end(), {"-chardev", fmt::format("socket,id=console,path={},server=on,wait=on,logfile={}", console, serial_),
                               "-serial", "chardev:console"});
    } else {
      argv.insert(argv.end(), {"-serial", "file:" + serial_});
    }
    if (o.device_fd < 0) {
      argv.insert(argv.begin(), {f.vgpuctl, "qemu", "--vgpu", "1", "--socket", socket, "--"});
    } else {
      ::fcntl(o.device_fd, F_SETFD, 0);
      argv.insert(argv.end(), {"-object", "memory-backend-memfd,id=m,size=512M,share=on", "-machine",
                               "memory-backend=m", "-device", fmt::format("x-pci-proxy-dev,fd={}", o.device_fd)});
    }
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    ::execv(c[0], c.data());
    ::_exit(127);
  }
  if (o.shell) {
    shell_ = std::make_unique<test::SerialShell>(console, std::chrono::seconds(60));
    if (!shell_->connected()) die("QEMU's serial console socket never appeared at " + console);
  }
}

VmRun::~VmRun() {
  shell_.reset();
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  fs::remove(serial_);
  fs::remove(serial_ + ".sock");
}

std::string VmRun::wait_for(const std::string& text, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    std::string s = slurp(serial_);
    if (s.find(text) != std::string::npos) return s;
    if (std::chrono::steady_clock::now() > until) die(fmt::format("the VM never printed '{}':\n{}", text, s));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

SpiedRun spied_run(VmRig& rig, const VmFiles& f, const std::string& append, bool shell,
                   const std::function<void(VmRun&)>& body) {
  auto conn = client::Connection::connect(rig.path, "vm-bench");
  if (!conn) die(conn.error().message);
  auto session = conn->open(1);
  if (!session || !session->enable_events()) die("cannot open vGPU 1 for events");
  auto sock = conn->attach_vm(1);
  if (!sock) die(sock.error().message);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  FlipSpy spy(sv[0], sock->release());
  SpiedRun out;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    while (!done) {
      auto e = session->wait_events(std::chrono::milliseconds(100));
      if (e && e->primary) out.wakes.push_back(now_ns());
      if (e && e->sprite) out.sprite_wakes.push_back(now_ns());
    }
  });
  {
    VmRun vm(f, rig.path, append, VmRunOptions{-1, sv[1], shell});
    ::close(sv[1]);  // QEMU has it
    body(vm);
  }
  done = true;
  consumer.join();
  out.flips = spy.flips();
  out.accesses = spy.accesses();
  return out;
}

std::vector<int64_t> flip_to_wake(const std::vector<int64_t>& flips, const std::vector<int64_t>& wakes) {
  std::vector<int64_t> lat;
  size_t fi = 0;
  int64_t taken = 0;
  for (int64_t w : wakes) {
    while (fi < flips.size() && flips[fi] <= w) ++fi;
    if (fi == 0 || flips[fi - 1] <= taken) continue;  // no flip since the last wake
    taken = flips[fi - 1];
    lat.push_back(w - taken);
  }
  return lat;
}

}  // namespace vgd::daemon_bench
