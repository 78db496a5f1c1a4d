// daemon_bench untrusted: what least privilege costs (docs/design.md, What a consumer receives).
// One 1080p desktop guest flips its X-tiled primary every vblank. Per flip, a consumer's event →
// QueryPlane → GetBuffer + map when the id is new → memcpy of the whole plane into its own
// buffer (plane_reader.cpp), for (a) a trusted consumer in this process (guest RAM, zero-copy:
// the guest's two buffers are fetched once) and (b) an untrusted one in another process, forked
// before the daemon started (the daemon copies the plane when it is queried, on the server's
// thread, into a sealed shadow that the consumer then fetches and maps). Per row: latency
// p50/p90/p99/max and each step's p50; the daemon's CPU per flip (its loop and vblank threads),
// its plane copies per flip and their duration (its counters: copies, copy_ns); the reader's
// CPU per flip. Baseline, in the same run with the guest flipping: memcpy of one 1920x1080
// XRGB8888 frame between two private buffers, once per 60 Hz frame.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common.h"
#include "plane_reader.h"

namespace vgd::daemon_bench {
namespace {

constexpr size_t kFrameBytes = size_t{1920} * 1080 * 4;

struct Job {  // parent → child, once
  char path[108];
  uint32_t vgpu;
  double warmup, seconds;
};

struct Snap {
  int64_t wall = 0, daemon = 0;
  uint64_t flips = 0;
  exporter::TearingCounters copies;
};

Snap snap(Rig& rig, server::HostedVgpu& hv) {
  Snap s;
  s.wall = now_ns();
  s.daemon = rig.daemon_cpu_ns();
  const Locked lk(hv.lock());
  s.flips = hv.vgpu().display().stats().flips[hw::index(hw::Pipe::A)][static_cast<size_t>(hw::Plane::Primary)];
  s.copies = hv.port().counters().tearing;
  return s;
}

struct Row {
  std::string name, kind;
  Dist total, query, fetch, read;
  double flips_per_s = 0, wakes_per_flip = 0, fetches_per_flip = 0, daemon_us_per_flip = 0, copies_per_flip = 0,
         copy_us = 0, copy_mb_per_flip = 0, reader_us_per_flip = 0, other_pct = 0;
  uint64_t refused = 0, skipped = 0;
};

Row consumer_row(std::string name, std::string kind, const PlaneSamples& s, const Snap& a, const Snap& b, double other) {
  Row r;
  r.name = std::move(name), r.kind = std::move(kind);
  r.total = summarize(s.total), r.query = summarize(s.query), r.fetch = summarize(s.fetch), r.read = summarize(s.read);
  const double wall = static_cast<double>(b.wall - a.wall) / 1e9;
  const double flips = static_cast<double>(std::max<uint64_t>(b.flips - a.flips, 1));
  const uint64_t copies = b.copies.copies - a.copies.copies;
  r.flips_per_s = static_cast<double>(b.flips - a.flips) / wall;
  r.wakes_per_flip = static_cast<double>(s.wakes) / flips;
  r.fetches_per_flip = static_cast<double>(s.fetches) / flips;
  r.daemon_us_per_flip = static_cast<double>(b.daemon - a.daemon) / 1e3 / flips;
  r.copies_per_flip = static_cast<double>(copies) / flips;
  r.copy_us = copies ? static_cast<double>(b.copies.copy_ns_total - a.copies.copy_ns_total) / 1e3 / static_cast<double>(copies) : 0;
  r.copy_mb_per_flip = static_cast<double>(b.copies.copy_bytes - a.copies.copy_bytes) / 1e6 / flips;
  r.reader_us_per_flip = static_cast<double>(s.cpu_ns) / 1e3 / flips;
  r.refused = s.refused, r.skipped = b.copies.copy_skipped - a.copies.copy_skipped;
  r.other_pct = other;
  return r;
}

// The baseline: what reading one frame costs with nothing of the daemon's in the way.
Row memcpy_row(double seconds) {
  std::vector<std::byte> from(kFrameBytes, std::byte{7}), to(kFrameBytes, std::byte{1});
  std::vector<int64_t> v;
  const OtherLoad others;
  for (const int64_t end = now_ns() + static_cast<int64_t>(seconds * 1e9); now_ns() < end; sleep_s(1.0 / 60)) {
    const int64_t t0 = now_ns();
    std::memcpy(to.data(), from.data(), kFrameBytes);
    asm volatile("" : : "r"(to.data()) : "memory");
    v.push_back(now_ns() - t0);
  }
  Row r;
  r.name = "baseline: memcpy of one 1920x1080 XRGB frame";
  r.kind = "baseline";
  r.total = r.read = summarize(std::move(v));
  r.other_pct = others.pct();
  return r;
}

void print_row(const Row& r) {
  const bool base = r.kind == "baseline";
  std::printf("%-46s %5zu %7.0f %7.0f %7.0f %7.0f | %7.0f %9s %7.0f %6.2f %6.2f | %8.0f %8.2f %7.0f %8.0f %6.0f\n",
              r.name.c_str(), r.total.n, r.total.p50, r.total.p90, r.total.p99, r.total.max, r.query.p50,
              r.fetch.n ? fmt::format("{:.0f}", r.fetch.p50).c_str() : "-", r.read.p50, r.wakes_per_flip,
              r.fetches_per_flip, r.daemon_us_per_flip, r.copies_per_flip, r.copy_us, r.reader_us_per_flip, r.other_pct);
  if (base) return;
  if (r.kind == "untrusted" && r.copies_per_flip < 0.5)
    std::printf("    note: the daemon made few plane copies: was the consumer trusted?\n");
  if (r.flips_per_s < 55) std::printf("    note: the guest flipped at %.1f/s, not 60\n", r.flips_per_s);
  if (r.refused || r.skipped)
    std::printf("    note: %lu quer(ies) refused, %lu cop(ies) skipped\n", static_cast<unsigned long>(r.refused),
                static_cast<unsigned long>(r.skipped));
  if (r.other_pct >= 10) std::printf("    %s\n", noise_note(r.other_pct).c_str());
}

std::string row_json(const Row& r) {
  return JObj{}
      .str("name", r.name)
      .str("kind", r.kind)
      .add("latency", dist_json(r.total))
      .add("query", dist_json(r.query))
      .add("fetch", dist_json(r.fetch))
      .add("read", dist_json(r.read))
      .num("flips_per_s", r.flips_per_s)
      .num("wakes_per_flip", r.wakes_per_flip)
      .num("fetches_per_flip", r.fetches_per_flip)
      .num("daemon_us_per_flip", r.daemon_us_per_flip)
      .num("copies_per_flip", r.copies_per_flip)
      .num("copy_us_per_copy", r.copy_us)
      .num("copy_mb_per_flip", r.copy_mb_per_flip)
      .num("reader_us_per_flip", r.reader_us_per_flip)
      .num("refused", static_cast<double>(r.refused))
      .num("copy_skipped", static_cast<double>(r.skipped))
      .num("other_processes_pct", r.other_pct)
      .dump();
}

}  // namespace

ConsumerChild fork_consumer() {
  int tell[2], hear[2];
  if (::pipe2(tell, O_CLOEXEC) != 0 || ::pipe2(hear, O_CLOEXEC) != 0) die("pipe2");
  const pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    ::close(tell[1]);
    ::close(hear[0]);
    Job job{};
    if (!read_all(tell[0], &job, sizeof job)) ::_exit(0);  // the part never ran (an earlier one failed)
    const char started = 1;
    const PlaneSamples s =
        read_planes(job.path, job.vgpu, job.warmup, job.seconds, [&] { (void)write_all(hear[1], &started, 1); });
    send_samples(hear[1], s);
    ::_exit(0);
  }
  ::close(tell[0]);
  ::close(hear[1]);
  ConsumerChild c;
  c.pid = pid, c.tell = UniqueFd(tell[1]), c.hear = UniqueFd(hear[0]);
  return c;
}

void run_untrusted(const Options& o, ConsumerChild& child) {
  const OtherLoad part_others;
  const std::string context = context_json();
  std::printf("\n== untrusted: a 1920x1080 desktop guest flipping every vblank, read per flip by a trusted consumer\n"
              "   (guest RAM) and an untrusted one (another process: the daemon's plane copies); %s\n",
              context_line().c_str());
  std::printf("   per wake: event -> QueryPlane -> GetBuffer + map on a new id -> memcpy of the whole plane, in us (get+map\n"
              "   p50 over the wakes that fetched); per primary flip: wakes, fetches, the daemon's CPU (loop and vblank\n"
              "   threads), its plane copies and each one's time (wall, on its loop thread), the consumer's CPU\n");
  std::printf("%-46s %5s %7s %7s %7s %7s | %7s %9s %7s %6s %6s | %8s %8s %7s %8s %6s\n", "latency per wake (us)", "n", "p50",
              "p90", "p99", "max", "query50", "get+map50", "read50", "wake/f", "gets/f", "daemon/f", "copies/f",
              "copy us", "reader/f", "other%");
  std::vector<Row> rows;
  auto keep = [&](Row r) {
    print_row(r);
    rows.push_back(std::move(r));
  };
  uint64_t plane_bytes = 0;
  {
    Rig rig({1, Workload::Desktop, false});
    server::HostedVgpu& hv = *rig.host->vgpus()[0];
    sleep_s(o.warmup);
    keep(memcpy_row(o.seconds));

    Snap a;
    std::optional<OtherLoad> others;
    auto start = [&] { others.emplace(), a = snap(rig, hv); };
    const PlaneSamples t = read_planes(rig.path, hv.id(), o.warmup, o.seconds, start);
    keep(consumer_row("trusted, this process: guest RAM, zero-copy", "trusted", t, a, snap(rig, hv), others->pct()));

    Job job{};
    std::snprintf(job.path, sizeof job.path, "%s", rig.path.c_str());
    job.vgpu = hv.id(), job.warmup = o.warmup, job.seconds = o.seconds;
    if (child.pid < 0 || !write_all(child.tell.get(), &job, sizeof job)) die("the untrusted consumer's process is gone");
    child.tell.reset();
    char started = 0;
    if (!read_all(child.hear.get(), &started, 1)) die("the untrusted consumer's process ended before recording");
    start();
    PlaneSamples u;
    if (!recv_samples(child.hear.get(), u)) die("the untrusted consumer's process sent no samples");
    const Snap b = snap(rig, hv);
    // The child is another process: its CPU is not other processes' load.
    const double child_pct = static_cast<double>(u.cpu_ns) / static_cast<double>(b.wall - a.wall) * 100;
    keep(consumer_row("untrusted, another process: plane copies", "untrusted", u, a, b,
                      std::max(0.0, others->pct() - child_pct)));
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    plane_bytes = u.bytes;
  }
  write_file(o.out + "/daemon-untrusted.json",
             JObj{}
                 .str("benchmark", "untrusted")
                 .str("title", "a 1080p plane read per flip: trusted (guest RAM) vs untrusted (plane copies)")
                 .num("frame_bytes", static_cast<double>(kFrameBytes))
                 .num("plane_bytes", static_cast<double>(plane_bytes))
                 .num("other_processes_pct", part_others.pct())
                 .add("context", context)
                 .add("rows", jlist([&] {
                        std::vector<std::string> items;
                        for (const auto& r : rows) items.push_back(row_json(r));
                        return items;
                      }()))
                 .dump());
}

}  // namespace vgd::daemon_bench
