// daemon_bench's shared pieces (see common.h): clocks, distributions, JSON, the machine's
// context and load, eventfd/epoll helpers and thread placement.
#include "common.h"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>

namespace vgd::daemon_bench {

// --- Time, CPU, distributions ------------------------------------------------------------------

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t cpu_ns(clockid_t c) {
  timespec ts{};
  if (::clock_gettime(c, &ts) != 0) return 0;
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t thread_cpu_ns(std::thread& t) {
  clockid_t c;
  if (!t.joinable() || ::pthread_getcpuclockid(t.native_handle(), &c) != 0) return 0;
  return cpu_ns(c);
}

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "daemon_bench: %s\n", why.c_str());
  std::exit(1);
}

Dist summarize(std::vector<int64_t> v) {
  Dist d;
  d.n = v.size();
  if (v.empty()) return d;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const auto i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)]) / 1e3;
  };
  d.mean = static_cast<double>(std::accumulate(v.begin(), v.end(), int64_t{0})) / static_cast<double>(v.size()) / 1e3;
  d.p50 = at(0.5), d.p90 = at(0.9), d.p99 = at(0.99), d.p999 = at(0.999);
  d.max = static_cast<double>(v.back()) / 1e3;
  std::vector<double> qs;
  for (int i = 0; i <= 98; ++i) qs.push_back(i / 100.0);
  for (int i = 990; i <= 999; ++i) qs.push_back(i / 1000.0);
  for (double q : {0.9995, 0.9999}) qs.push_back(q);
  for (double q : qs) d.quantiles.emplace_back(q, q == 0 ? static_cast<double>(v.front()) / 1e3 : at(q));
  d.quantiles.emplace_back(1.0, d.max);
  return d;
}

// --- JSON (flat writer: enough for numbers, strings, lists and objects) ------------------------

std::string jstr(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      o += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      continue;
    }
    o += c;
  }
  return o + "\"";
}
std::string jnum(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "null"; }

std::string JObj::dump() const {
  std::string o = "{";
  for (size_t i = 0; i < kv.size(); ++i) o += (i ? ", " : "") + jstr(kv[i].first) + ": " + kv[i].second;
  return o + "}";
}

std::string jlist(const std::vector<std::string>& items) {
  std::string o = "[";
  for (size_t i = 0; i < items.size(); ++i) o += (i ? ",\n  " : "\n  ") + items[i];
  return o + (items.empty() ? "]" : "\n]");
}

std::string dist_json(const Dist& d) {
  std::vector<std::string> q;
  for (auto [p, v] : d.quantiles) q.push_back(fmt::format("[{}, {}]", jnum(p), jnum(v)));
  std::string ql = "[";
  for (size_t i = 0; i < q.size(); ++i) ql += (i ? ", " : "") + q[i];
  ql += "]";
  return JObj{}
      .num("n", static_cast<double>(d.n))
      .num("mean_us", d.mean)
      .num("p50_us", d.p50)
      .num("p90_us", d.p90)
      .num("p99_us", d.p99)
      .num("p999_us", d.p999)
      .num("max_us", d.max)
      .add("quantiles_us", ql)
      .dump();
}

std::string context_json() {
  utsname u{};
  ::uname(&u);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  double load[3] = {};
  ::getloadavg(load, 3);
  std::string model;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  const auto t = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&t));
  return JObj{}
      .str("host_name", host)
      .str("date", date)
      .num("num_cpus", static_cast<double>(std::thread::hardware_concurrency()))
      .str("cpu_model", model)
      .str("kernel", fmt::format("{} {}", u.sysname, u.release))
      .add("load_avg", fmt::format("[{}, {}, {}]", jnum(load[0]), jnum(load[1]), jnum(load[2])))
      .dump();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text << "\n";
  if (!f) die("cannot write " + path);
  std::printf("results: %s\n", path.c_str());
}

std::string context_line() {
  double load[3] = {};
  ::getloadavg(load, 3);
  return fmt::format("{} CPUs, load {:.1f} {:.1f} {:.1f}", std::thread::hardware_concurrency(), load[0], load[1], load[2]);
}

OtherLoad::OtherLoad() : busy0_(busy_ns()), self0_(cpu_ns(CLOCK_PROCESS_CPUTIME_ID)), wall0_(now_ns()) {}

double OtherLoad::pct() const {
  const double wall = static_cast<double>(now_ns() - wall0_);
  const double others = static_cast<double>((busy_ns() - busy0_) - (cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - self0_));
  return wall > 0 ? std::max(0.0, others / wall * 100) : 0;
}

int64_t OtherLoad::busy_ns() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  int64_t user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  f >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
  return (user + nice + sys + irq + softirq + steal) * (1'000'000'000 / ::sysconf(_SC_CLK_TCK));
}

std::string noise_note(double pct) {
  return pct < 10 ? fmt::format("other processes: {:.0f} % of a core", pct)
                  : fmt::format("other processes: {:.0f} % of a core: BUSY MACHINE, rerun for clean numbers", pct);
}

// --- eventfd / epoll ----------------------------------------------------------------------------

UniqueFd make_eventfd() {
  UniqueFd e(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!e) die(fmt::format("eventfd: {}", std::strerror(errno)));
  return e;
}

void poke(int efd) {
  const uint64_t one = 1;
  (void)!::write(efd, &one, sizeof one);
}

UniqueFd epoll_of(const std::vector<std::pair<int, uint64_t>>& fds) {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  for (auto [fd, tag] : fds) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev) != 0) die(fmt::format("epoll_ctl: {}", std::strerror(errno)));
  }
  return ep;
}

// --- Thread placement ----------------------------------------------------------------------------

bool set_affinity(pthread_t t, int cpu) {  // cpu < 0: every CPU
  cpu_set_t set;
  CPU_ZERO(&set);
  const int n = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 0; i < std::max(n, 1); ++i)
    if (cpu < 0 || i == cpu) CPU_SET(i, &set);
  return ::pthread_setaffinity_np(t, sizeof set, &set) == 0;
}

int64_t threads_cpu_ns(std::string_view prefix) {
  int64_t total = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    FILE* f = std::fopen((t.path() / "stat").c_str(), "r");
    if (!f) continue;
    char buf[1024] = {};
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    const std::string_view s(buf, n);
    const size_t open = s.find('('), close = s.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos) continue;
    if (s.substr(open + 1, close - open - 1).substr(0, prefix.size()) != prefix) continue;
    unsigned long long ut = 0, st = 0;
    // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    if (std::sscanf(buf + close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
      total += static_cast<int64_t>((ut + st) * (1'000'000'000 / ::sysconf(_SC_CLK_TCK)));
  }
  return total;
}

}  // namespace vgd::daemon_bench
