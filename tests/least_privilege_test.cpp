// Least privilege (docs/protocol.md §3.5, §7): an untrusted consumer gets only host-owned, sealed,
// read-only copies of the planes' bytes, one per change shared by every such consumer; a trusted
// one keeps zero-copy access to guest RAM. The acceptance: a secret the guest keeps in memory no
// plane uses never reaches an untrusted consumer, whatever it maps or reads.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include "daemon_support.h"
#include "display/vblank_clock.h"
#include "plane_support.h"
#include "ram_support.h"
#include "server/consumer_port.h"

namespace vgd {
namespace {

using exporter::ExportedBuffer;
using test::kFrame0;
using test::SmallPrimary;

constexpr uint64_t kRam = 16ull << 20;
constexpr uint64_t kPlaneBytes = SmallPrimary::kPages * kPageSize;

// Every byte the descriptor lets its holder see: its whole file, mapped (page by page where whole
// fails) and read with pread at every page.
std::vector<std::byte> everything(int fd) {
  struct stat st{};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) return {};
  const auto size = static_cast<size_t>(st.st_size);
  std::vector<std::byte> out(size);
  if (void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0); m != MAP_FAILED) {
    std::memcpy(out.data(), m, size);
    ::munmap(m, size);
  } else {
    for (size_t off = 0; off < size; off += kPageSize)
      if (void* p = ::mmap(nullptr, kPageSize, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(off)); p != MAP_FAILED) {
        std::memcpy(out.data() + off, p, std::min<size_t>(kPageSize, size - off));
        ::munmap(p, kPageSize);
      }
  }
  std::vector<std::byte> read(size);
  for (size_t off = 0; off < size; off += kPageSize)
    (void)::pread(fd, read.data() + off, std::min<size_t>(kPageSize, size - off), static_cast<off_t>(off));
  out.insert(out.end(), read.begin(), read.end());
  return out;
}

bool contains(const std::vector<std::byte>& hay, const std::array<std::byte, 64>& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// A copy is sealed against resizing and every later write, and reaches its holder read-only.
void expect_sealed_read_only(int fd) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL),
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
  EXPECT_EQ(::fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(::mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
  const std::byte b{1};
  EXPECT_EQ(::pwrite(fd, &b, 1, 0), -1);
}

// A vGPU showing a 64×64 primary (guest frames kFrame0...), its consumer side as the daemon runs it.
class PlaneCopyTest : public test::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    auto ram = GuestRam::from_sections(vm.boot_sections());
    ASSERT_TRUE(ram) << ram.error();
    auto v = gpu->create_vgpu("GVTg_V5_8", *ram);
    ASSERT_TRUE(v);
    vgpu = *v;
    paint(0, 0x11);
    paint(1, 0x22);
    SmallPrimary::light(*vgpu, 2, 1u << 9);  // async flips: a flip latches at the next vblank
    flip(0);
    port = std::make_unique<server::ConsumerPort>(lock, *vgpu, VgpuSpec{}, exporter::ExporterOptions{.udmabuf = false},
                                                  clock);
  }
  void TearDown() override { port.reset(); }
  // Surface k's pixels: every byte `v` but the first of each page, its index.
  void paint(uint64_t k, uint8_t v) {
    for (uint64_t p = 0; p < SmallPrimary::kPages; ++p) {
      std::vector<uint8_t> page(kPageSize, v);
      page[0] = static_cast<uint8_t>(p);
      ASSERT_EQ(::pwrite(vm.fd(), page.data(), kPageSize, static_cast<off_t>((kFrame0 + k * 4 + p) * kPageSize)),
                static_cast<ssize_t>(kPageSize));
    }
  }
  std::vector<std::byte> surface(uint64_t k) const {
    std::vector<std::byte> out(kPlaneBytes);
    EXPECT_EQ(::pread(vm.fd(), out.data(), kPlaneBytes, static_cast<off_t>((kFrame0 + k * 4) * kPageSize)),
              static_cast<ssize_t>(kPlaneBytes));
    return out;
  }
  void flip(uint64_t k) {
    wr(*vgpu, SmallPrimary::reg(hw::plane::kSurf), SmallPrimary::surface(*vgpu, k));
    const Locked lk(lock);
    vgpu->vblank();
  }
  uint32_t query(server::ConsumerId c) {
    exporter::GfxPlaneInfo req;
    req.argsz = sizeof req, req.flags = exporter::kFlagDmabuf, req.drm_plane_type = exporter::kPlanePrimary;
    auto r = port->query(c, req);
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->dmabuf_id : 0;
  }
  ExportedBuffer get(server::ConsumerId c, uint32_t id) {
    auto b = port->get(c, id);
    EXPECT_TRUE(b) << b.error().message;
    return b ? std::move(*b) : ExportedBuffer{};
  }
  uint64_t copies() {
    const Locked lk(lock);
    return port->counters().tearing.copies;
  }

  test::VmMemfd vm{kRam};
  WorkLock lock;
  display::VirtualClock clock;
  Vgpu* vgpu = nullptr;
  std::unique_ptr<server::ConsumerPort> port;
};

TEST_F(PlaneCopyTest, UntrustedConsumerGetsASealedReadOnlyCopyOfThePlaneOnly) {
  const server::ConsumerId c = *port->open(server::Trust::Untrusted);
  const uint32_t id = query(c);
  EXPECT_TRUE(exporter::ShadowFrames::owns(id)) << id;
  const ExportedBuffer b = get(c, id);
  ASSERT_TRUE(b.fd);
  EXPECT_EQ(b.dmabuf.get(), -1) << "no dma-buf for an untrusted consumer";
  ASSERT_EQ(b.extents.size(), 1u);
  EXPECT_EQ(b.extents[0].offset, 0u);
  EXPECT_EQ(b.extents[0].length, kPlaneBytes);
  const std::vector<std::byte> seen = everything(b.fd.get());
  ASSERT_EQ(seen.size(), 2 * kPlaneBytes) << "the file is the plane's size, no more";
  EXPECT_TRUE(std::equal(seen.begin(), seen.begin() + kPlaneBytes, surface(0).begin())) << "exactly the plane's bytes";
  expect_sealed_read_only(b.fd.get());
  // Guest RAM ids (a trusted consumer's) are refused to it.
  const server::ConsumerId t = *port->open(server::Trust::Trusted);
  const uint32_t ram_id = query(t);
  EXPECT_FALSE(exporter::ShadowFrames::owns(ram_id));
  EXPECT_EQ(port->get(c, ram_id).error().code, exporter::Errc::NoSuchBuffer);
  const ExportedBuffer whole = get(t, ram_id);
  struct stat st{};
  ASSERT_EQ(::fstat(whole.fd.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kRam) << "a trusted consumer maps guest RAM itself";
  EXPECT_EQ(whole.extents.size(), 1u);
  EXPECT_EQ(whole.extents[0].offset, kFrame0 * kPageSize);
}

TEST_F(PlaneCopyTest, OneCopyPerFlipSharedByEveryUntrustedConsumer) {
  const server::ConsumerId a = *port->open(server::Trust::Untrusted), b = *port->open(server::Trust::Untrusted);
  const uint32_t first = query(a);
  EXPECT_EQ(query(b), first);
  EXPECT_EQ(query(a), first) << "nothing changed: the same copy";
  EXPECT_EQ(copies(), 1u);
  flip(1);
  const uint32_t second = query(b);
  EXPECT_NE(second, first);
  EXPECT_EQ(query(a), second);
  EXPECT_EQ(copies(), 2u);
  const ExportedBuffer got = get(a, second);
  const std::vector<std::byte> seen = everything(got.fd.get());
  EXPECT_TRUE(std::equal(seen.begin(), seen.begin() + kPlaneBytes, surface(1).begin())) << "the new flip's bytes";
  EXPECT_TRUE(port->release(a, second));
}

// --- the secret, over the daemon's socket ---

// The embedded vGPUs (1 desktop: primary and cursor; 3 video: primary and sprite), trusted or
// not by this process's uid.
class SecretTest : public ::testing::Test {
 protected:
  void start(bool trust) {
    trusted = trust;
    DaemonConfig c;
    for (VgpuSpec& s : c.vgpus)
      if (trust) s.access.trusted_uids = {::getuid()};
    daemon.start(c, trust ? "secret-t" : "secret-u");
    // The secret, in the last page of each guest's RAM: no plane of the demo guests uses it.
    for (const auto& h : daemon.host->vgpus()) {
      const Locked lk(h->lock());
      const auto ram = h->vgpu().ram_ref();
      ASSERT_EQ(::pwrite(ram->fd(), kSecret.data(), kSecret.size(), static_cast<off_t>(ram->size() - kPageSize + 64)),
                64);
    }
  }
  // Queries every plane of `vgpu` over `flips` rounds, maps and reads every descriptor it is
  // given; true when the secret was in any of them.
  bool found(test::Conn& c, uint32_t vgpu, int rounds) {
    bool seen = false;
    for (int i = 0; i < rounds; ++i) {
      for (uint32_t type : {proto::kPlanePrimary, proto::kPlaneOverlay, proto::kPlaneCursor}) {
        proto::GfxPlaneInfo p{};
        if (!c.call(proto::MsgType::QueryPlane, vgpu, test::plane_request(type)).read(p) || p.dmabuf_id == 0) continue;
        proto::Packet r = c.call(proto::MsgType::GetBuffer, vgpu, proto::BufferRequest{p.dmabuf_id});
        EXPECT_TRUE(test::Conn::ok(r)) << proto::error_text(r);
        proto::BufferReply b;
        if (!trusted && r.read(b)) {  // a plane copy: one descriptor, no dma-buf
          EXPECT_GE(p.dmabuf_id, 0x40000000u);
          EXPECT_EQ(b.flags, 0u);
          EXPECT_EQ(r.fds.size(), 1u);
        }
        for (const UniqueFd& fd : r.fds) seen = seen || contains(everything(fd.get()), kSecret);
        ++descriptors[type];
        EXPECT_TRUE(test::Conn::ok(c.call(proto::MsgType::Release, vgpu, proto::ReleaseRequest{p.dmabuf_id})));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return seen;
  }
  void TearDown() override { daemon.stop(); }

  static constexpr std::array<std::byte, 64> kSecret = [] {
    std::array<std::byte, 64> s{};
    for (size_t i = 0; i < s.size(); ++i) s[i] = std::byte(static_cast<uint8_t>(0xA5 ^ (i * 37 + 11)));
    return s;
  }();
  test::RunningDaemon daemon;
  bool trusted = false;
  std::map<uint32_t, int> descriptors;  // by plane type
};

// The daemon trusts its own process (its viewers connect over the socket too), so the untrusted
// consumer is another process, as it would be: a child that reports over a pipe what it saw.
// It is forked before the daemon starts its threads (a fork of a threaded process may inherit a
// lock another thread held, the sanitizers' allocator's too) and told the socket's path after.
TEST_F(SecretTest, UntrustedConsumerNeverSeesMemoryNoPlaneUses) {
  struct Seen {
    bool secret = false, failed = false;
    int primary = 0, cursor = 0, overlay = 0;
  };
  int go[2], out[2];
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(out), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(go[1]);
    ::close(out[0]);
    std::string path;  // until the parent closes its end: empty if it failed before serving
    char b[256];
    for (ssize_t n; (n = ::read(go[0], b, sizeof b)) > 0;) path.append(b, static_cast<size_t>(n));
    if (path.empty()) ::_exit(2);
    Seen r;
    {
      test::Conn c(path);
      c.hello();
      for (uint32_t v : {1u, 3u}) {
        if (!test::Conn::ok(c.call(proto::MsgType::Open, v))) r.failed = true;
        r.secret = found(c, v, 30) || r.secret;
      }
    }
    r.failed = r.failed || ::testing::Test::HasFailure();  // the checks found() makes of each copy
    r.primary = descriptors[proto::kPlanePrimary], r.cursor = descriptors[proto::kPlaneCursor];
    r.overlay = descriptors[proto::kPlaneOverlay];
    const bool sent = ::write(out[1], &r, sizeof r) == static_cast<ssize_t>(sizeof r);
    ::_exit(sent ? 0 : 1);
  }
  ::close(go[0]);
  ::close(out[1]);
  UniqueFd tell(go[1]);  // closed on any return: the child then ends
  const UniqueFd hear(out[0]);
  start(false);
  ASSERT_EQ(::write(tell.get(), daemon.path.data(), daemon.path.size()), static_cast<ssize_t>(daemon.path.size()));
  tell.reset();  // the whole path is there
  Seen r;
  const bool got = ::read(hear.get(), &r, sizeof r) == static_cast<ssize_t>(sizeof r);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(got && WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the consumer process did not report";
  EXPECT_FALSE(r.secret) << "an untrusted consumer read memory no plane uses";
  EXPECT_FALSE(r.failed) << "a plane copy was not one sealed descriptor without a dma-buf (the child's log says which)";
  // Both primaries, the desktop's cursor and the video's sprite, in (nearly) every round.
  EXPECT_GE(r.primary, 50);
  EXPECT_GE(r.cursor, 20);
  EXPECT_GE(r.overlay, 20);
}

TEST_F(SecretTest, TrustedConsumerFindsItInGuestRam) {  // the test above can fail
  start(true);
  test::Conn c(daemon.path);
  c.hello();
  ASSERT_TRUE(test::Conn::ok(c.call(proto::MsgType::Open, 1)));
  bool seen = false;
  for (int i = 0; i < 250 && !seen; ++i) seen = found(c, 1, 1);  // once the guest shows a plane
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace vgd
