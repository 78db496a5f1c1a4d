#include "exporter/tearing.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "decode/decoder.h"

namespace vgd::exporter {

namespace {

Unexpected<ExportError> refuse(Errc c, std::string msg) { return Unexpected(ExportError{c, std::move(msg)}); }

// A sealed memfd of `size` bytes, read-only for anyone who reopens it (as guest RAM), mapped
// writable through our own descriptor only: F_SEAL_FUTURE_WRITE, added after that mapping, refuses
// every later write(), writable mapping or mprotect to anyone (docs/protocol.md §7).
bool make_shadow(uint64_t size, UniqueFd& fd, Mapping& map) {
  UniqueFd f(::memfd_create("vgpu-shadow", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!f || ::ftruncate(f.get(), static_cast<off_t>(size)) != 0 ||
      ::fcntl(f.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0 || ::fchmod(f.get(), 0400) != 0)
    return false;
  auto m = Mapping::of_fd(f.get(), size, 0, PROT_READ | PROT_WRITE);
  if (!m || ::fcntl(f.get(), F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) return false;
  fd = std::move(f);
  map = std::move(*m);
  return true;
}

}  // namespace

// --- hold ---

bool HoldGate::may_complete(const display::HeldFlip& f) {
  // The primary only: it is what consumers map and what a guest double-buffers.
  if (f.plane != hw::Plane::Primary) return true;
  if (!busy_(Gma(f.previous & hw::plane::kSurfAddrMask))) return true;
  // The hold begins at the first refusal: the latching vblank, or later when another gate held
  // the flip meanwhile (docs/design.md, Tearing control).
  if (!holding_[hw::index(f.pipe)]) {
    holding_[hw::index(f.pipe)] = true;
    ++c_.held;
    since_[hw::index(f.pipe)] = now_ns_();
  }
  return false;
}

void HoldGate::hold_ended(const display::HeldFlip& f, bool timed_out) {
  if (f.plane != hw::Plane::Primary || !std::exchange(holding_[hw::index(f.pipe)], false)) return;
  const uint64_t ns = now_ns_() - since_[hw::index(f.pipe)];
  c_.hold_timeouts += timed_out ? 1 : 0;
  c_.hold_ns_total += ns;
  c_.hold_ns_max = std::max(c_.hold_ns_max, ns);
}

// --- copy ---

void ShadowFrames::on_vblank(const Vgpu& v, const display::VblankReport& r) {
  const auto pipe = decode::first_active_pipe(v.vregs());
  const bool fresh = pipe != pipe_;
  pipe_ = pipe;
  if (!pipe) return;
  const auto& in = r.pipes[hw::index(*pipe)];
  bool want = fresh || owed_ || ((in.latched | in.async | in.damaged()) & display::plane_bit(plane_)) != 0;
  if (want)
    idle_ = 0;
  else if (idle_ > kFrontBufferThreshold)
    want = true;
  else
    ++idle_;
  if (want) owed_ = true;
}

bool ShadowFrames::owed(const decode::PlaneInfo& p) const {
  return owed() || !slots_[*front_].shows(p) || slots_[*front_].base != p.base;
}

bool ShadowFrames::Slot::shows(const decode::PlaneInfo& p) const {
  return id != 0 && fourcc == p.fourcc && modifier == p.modifier && width == p.width && height == p.height &&
         stride == p.stride && size == p.size;
}

ShadowFrames::Slot* ShadowFrames::pick(const decode::PlaneInfo& p) {
  // The slot not in front first: a consumer that has just been told the front id still finds
  // that frame, unless it is the only slot free. A held slot (or one being copied into) is never
  // rewritten; a pinned one only with a frame of its own geometry (its id must stay).
  const size_t first = front_ == size_t{0} ? 1 : 0;
  for (size_t i : {first, 1 - first}) {
    Slot& s = slots_[i];
    if (!s.copying && holds_.references(s.id) == 0 && (s.shows(p) || !holds_.pinned(s.id))) return &s;
  }
  return nullptr;
}

const ShadowFrames::Slot* ShadowFrames::find(uint32_t id) const {
  for (const Slot& s : slots_)
    if (s.id != 0 && s.id == id) return &s;
  return nullptr;
}

uint64_t ShadowFrames::default_budget(const VgpuType& t, hw::Plane plane) {
  // Rows rounded up to 512 bytes (an X tile's width), the height to 64 rows (the tallest tile):
  // no tiling of a 4-byte plane at that size needs more. A cursor is at most 256x256.
  const uint64_t w = plane == hw::Plane::Cursor ? 256 : t.max_width, h = plane == hw::Plane::Cursor ? 256 : t.max_height;
  const uint64_t frame = align_up(w * 4, 512) * align_up(h, 64);
  return 2 * align_up(frame, kPageSize);
}

bool ShadowFrames::fit(Slot& s, const decode::PlaneInfo& p) {
  if (s.shows(p)) return true;
  // The other slot keeps its memfd, this one's is replaced: refuse before allocating anything,
  // so the consumer keeps the last frame that fitted and the daemon does not grow.
  const uint64_t bytes = align_up(p.size, kPageSize), other = slots_[&s == slots_.data() ? 1 : 0].map.size();
  if (bytes > budget_ - std::min(other, budget_)) {
    ++c_.copy_over_budget;
    return false;
  }
  // Another format or geometry: a new memfd under a new id, so no consumer's cache keyed by id
  // describes the wrong bytes. Nobody holds or pins this slot; descriptors handed out before
  // keep theirs.
  // The old memfd goes first, so the two never exceed the budget even for a moment.
  if (front_ && &slots_[*front_] == &s) front_.reset();
  s = Slot{};
  if (!make_shadow(bytes, s.fd, s.map)) {
    ++c_.copy_failures;
    return false;
  }
  s.id = ids_.take([this](uint32_t n) { return contains(n); });
  s.fourcc = p.fourcc, s.modifier = p.modifier, s.width = p.width, s.height = p.height, s.stride = p.stride;
  s.size = p.size;
  return true;
}

std::optional<ShadowFrames::CopyJob> ShadowFrames::begin_capture(const decode::PlaneInfo& p) {
  Slot* s = pick(p);
  if (!s) {
    ++c_.copy_skipped;
    return std::nullopt;
  }
  CopyJob job;
  job.ram = ram_.lock();
  if (!job.ram || p.pages.size() != align_up(p.size, kPageSize) / kPageSize) {
    ++c_.copy_failures;
    return std::nullopt;
  }
  if (!fit(*s, p)) return std::nullopt;
  job.src = coalesce(p.pages);
  for (const Extent& e : job.src)
    if (!job.ram->holds(MemfdOffset(e.offset), e.length)) {  // the decoder's promise, checked
      ++c_.copy_failures;
      return std::nullopt;
    }
  job.slot = static_cast<size_t>(s - slots_.data());
  job.base = p.base;
  job.bytes = p.size;
  job.dst = s->map.data();
  s->copying = true;
  copying_ = p.base;
  owed_ = false;  // a vblank from now on owes the next copy
  return job;
}

void ShadowFrames::run(CopyJob& job) {
  const auto start = std::chrono::steady_clock::now();
  // The plane's bytes only: the tail of its last page may be another buffer of the guest's, which
  // a consumer of this plane must not see (docs/protocol.md §3.5).
  std::byte* dst = job.dst;
  uint64_t left = job.bytes;
  for (const Extent& e : job.src) {
    const uint64_t n = std::min<uint64_t>(e.length, left);
    std::memcpy(dst, job.ram->host_bytes(MemfdOffset(e.offset), n).data(), n);
    dst += n, left -= n;
  }
  std::memset(dst, 0, align_up(job.bytes, kPageSize) - job.bytes);
  job.ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  job.ok = true;
}

void ShadowFrames::end_capture(const CopyJob& job) {
  Slot& s = slots_[job.slot];
  s.copying = false;
  copying_.reset();
  if (!job.ok) {
    owed_ = true;
    ++c_.copy_failures;
    return;
  }
  front_ = job.slot;
  s.base = job.base;
  ++c_.copies;
  c_.copy_bytes += s.map.size();
  c_.copy_ns_total += job.ns;
  c_.copy_ns_last = job.ns;
  c_.copy_ns_max = std::max(c_.copy_ns_max, job.ns);
}

bool ShadowFrames::capture(const decode::PlaneInfo& p) {
  auto job = begin_capture(p);
  if (!job) return false;
  run(*job);
  end_capture(*job);
  return job->ok;
}

Expected<GfxPlaneInfo, ExportError> ShadowFrames::query(ConsumerKey who, const GfxPlaneInfo& req,
                                                        const DecodeResult& decoded) {
  auto reply = answer_query(req, decoded);
  if (!reply || reply->flags != kFlagDmabuf) return reply;
  if (no_plane(*reply)) {
    holds_.pin(who, plane_, 0);
    return reply;
  }
  if (!front_) return refuse(Errc::Io, "no shadow frame could be made");
  const Slot& s = slots_[*front_];
  reply->drm_format = s.fourcc;
  reply->drm_format_mod = s.modifier;
  reply->width = s.width, reply->height = s.height, reply->stride = s.stride;
  reply->size = static_cast<uint32_t>(s.size);
  reply->dmabuf_id = s.id;
  holds_.pin(who, plane_, s.id);  // the id stays until `who` gets it
  return reply;
}

Expected<ExportedBuffer, ExportError> ShadowFrames::get(ConsumerKey who, uint32_t id) {
  const Slot* s = find(id);
  if (!s) return refuse(Errc::NoSuchBuffer, fmt::format("no shadow frame with id {} (query the plane again)", id));
  ExportedBuffer b;
  b.fd.reset(::open(fmt::format("/proc/self/fd/{}", s->fd.get()).c_str(), O_RDONLY | O_CLOEXEC));
  if (!b.fd) return refuse(Errc::Io, fmt::format("reopening a shadow memfd read-only: {}", std::strerror(errno)));
  b.id = id;
  b.size = s->size;
  b.extents = {Extent{0, s->map.size()}};
  b.fourcc = s->fourcc;
  b.modifier = s->modifier;
  b.width = s->width, b.height = s->height, b.stride = s->stride;
  holds_.add(who, id);
  return b;
}

Expected<uint32_t, ExportError> ShadowFrames::release(ConsumerKey who, uint32_t id) {
  const int64_t left = contains(id) ? holds_.drop(who, id) : -1;
  if (left < 0) return refuse(Errc::NoSuchBuffer, fmt::format("no reference held on shadow frame {}", id));
  return static_cast<uint32_t>(left);
}

}  // namespace vgd::exporter
