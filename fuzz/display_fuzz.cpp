// A hostile guest on the whole display path. The fuzzer's bytes become a stream of guest
// operations by two vGPUs (display register writes, any MMIO access, GGTT PTE writes with frames
// inside and outside RAM and pages of the neighbour's slices, plane programming, vblanks, virtual
// time, reset, failsafe triggers, destroying and re-creating the neighbour). After each one the
// host does what a consumer does: decode every plane of every pipe, map and render what decodes,
// and compose the picture (compose_display). Nothing may crash, leak or read outside guest RAM,
// and every decoded plane must satisfy the decoder's contract (checked here from first principles:
// slices from the partition, frames from the guest's PTEs, pixels from the RAM's known pattern).
//
// Input format: a sequence of ops, each one opcode byte (bit 7: vGPU B, else A; the rest modulo
// kOpCount picks the op) followed by that op's operands, little-endian; missing bytes read as 0.
// Set VGD_FUZZ_STATS=1 to print how many planes decoded or were refused (coverage sanity check).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "fuzz_check.h"
#include "decode/decoder.h"
#include "decode/plane_cache.h"
#include "display/vblank_clock.h"
#include "fb/compose.h"
#include "fb/convert.h"
#include "fb/view.h"
#include "hw/bar.h"
#include "hw/blocks.h"
#include "hw/display.h"
#include "hw/pvinfo.h"
#include "sim/picture.h"
#include "vgpu/gpu.h"

using namespace vgd;

namespace {

constexpr uint64_t kApertureMiB = 8, kHiddenMiB = 8;
constexpr uint64_t kRamA = 4 * kMiB, kRamB = 2 * kMiB;
constexpr size_t kMaxOps = 256;

// Guest RAM holds a known pattern, so a rendered pixel can be checked against the word the
// guest's PTEs say it comes from without trusting the code under test.
uint32_t pattern(uint64_t memfd_offset) {
  uint64_t x = (memfd_offset / 4 + 1) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  return static_cast<uint32_t>(x * 0xBF58476D1CE4E5B9ull >> 32);
}

std::shared_ptr<GuestRam> make_ram(uint64_t size, const char* name) {
  auto r = GuestRam::create(size, name);
  CHECK(r.has_value());
  auto bytes = (*r)->host_bytes(MemfdOffset(0), size);
  for (uint64_t o = 0; o < size; o += 4) {
    const uint32_t w = pattern(o);
    std::memcpy(bytes.data() + o, &w, 4);
  }
  return *r;
}

// Counters for VGD_FUZZ_STATS: does the fuzzer reach decoded planes, or only errors?
struct Stats {
  uint64_t inputs = 0, steps = 0;
  uint64_t decoded[hw::kPlaneCount] = {}, no_plane = 0, invalid = 0, fault = 0;
  uint64_t tiled = 0, yuv = 0, rendered = 0, pixel_checks = 0;
  uint64_t composed = 0, composed_sprite = 0, composed_cursor = 0, compose_failed = 0;
  bool enabled = std::getenv("VGD_FUZZ_STATS") != nullptr;
  bool trace = std::getenv("VGD_FUZZ_TRACE") != nullptr;  // every refusal but "plane off"
  ~Stats() {
    if (!enabled) return;
    std::fprintf(stderr,
                 "display_fuzz stats: inputs %lu steps %lu | decoded primary %lu sprite %lu cursor %lu "
                 "(tiled %lu, yuv %lu; rendered %lu, pixels checked %lu) | refused: no-plane %lu invalid %lu "
                 "fault %lu | composed %lu (with sprite %lu, cursor %lu), compose failed %lu\n",
                 inputs, steps, decoded[0], decoded[1], decoded[2], tiled, yuv, rendered, pixel_checks, no_plane, invalid,
                 fault, composed, composed_sprite, composed_cursor, compose_failed);
  }
};
Stats stats;

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool empty() const { return i_ >= n_; }
  uint64_t bytes(unsigned k) {
    uint64_t v = 0;
    for (unsigned b = 0; b < k; ++b, ++i_)
      if (i_ < n_) v |= uint64_t{d_[i_]} << (8 * b);
    return v;
  }
  uint8_t u8() { return static_cast<uint8_t>(bytes(1)); }
  uint16_t u16() { return static_cast<uint16_t>(bytes(2)); }
  uint32_t u32() { return static_cast<uint32_t>(bytes(4)); }
  uint64_t u64() { return bytes(8); }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t i_ = 0;
};

// Display registers a guest programs, pipe A's offsets (per-pipe ones are moved to the op's pipe).
constexpr uint64_t kPipeRegs[] = {
    hw::pipe::kConf,
    hw::trans::kPipeSrc,
    hw::trans::kHtotal,
    hw::trans::kVtotal,
    hw::trans::kLinkM1,
    hw::trans::kLinkN1,
    hw::pipe::kFrameCount,
    hw::pipe::kFlipCount,
    hw::plane::reg(hw::Pipe::A, 1, hw::plane::kCtl),
    hw::plane::reg(hw::Pipe::A, 1, hw::plane::kStride),
    hw::plane::reg(hw::Pipe::A, 1, hw::plane::kPos),
    hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSize),
    hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSurf),
    hw::plane::reg(hw::Pipe::A, 1, hw::plane::kOffset),
    hw::plane::reg(hw::Pipe::A, 1, hw::plane::kSurfLive),
    hw::plane::reg(hw::Pipe::A, 2, hw::plane::kCtl),
    hw::plane::reg(hw::Pipe::A, 2, hw::plane::kStride),
    hw::plane::reg(hw::Pipe::A, 2, hw::plane::kPos),
    hw::plane::reg(hw::Pipe::A, 2, hw::plane::kSize),
    hw::plane::reg(hw::Pipe::A, 2, hw::plane::kSurf),
    hw::plane::reg(hw::Pipe::A, 2, hw::plane::kOffset),
    hw::plane::reg(hw::Pipe::A, 2, hw::plane::kSurfLive),
    hw::cursor::kCntr,
    hw::cursor::kBase,
    hw::cursor::kPos,
    hw::cursor::kSurfLive,
};
constexpr uint64_t kGlobalRegs[] = {
    hw::dpll::kCtrl1,
    hw::dpll::kCtrl2,
    hw::mmio_flip::kPrimary[0],
    hw::mmio_flip::kPrimary[1],
    hw::mmio_flip::kPrimary[2],
    hw::mmio_flip::kSprite[0],
    hw::mmio_flip::kSprite[1],
    hw::mmio_flip::kSprite[2],
    hw::irq::kMaster,
    hw::irq::imr(hw::Pipe::A),
    hw::irq::iir(hw::Pipe::A),
    hw::irq::ier(hw::Pipe::A),
    hw::kPvinfoOffset + hw::pv::kCursorXHot,
    hw::kPvinfoOffset + hw::pv::kCursorYHot,
    hw::kPvinfoOffset + hw::pv::kDisplayReady,
    hw::kPvinfoOffset + hw::pv::kG2vNotify,
};
constexpr size_t kPipeRegCount = std::size(kPipeRegs), kGlobalRegCount = std::size(kGlobalRegs);

enum Op : uint8_t {
  kReg,        // u8 register, u32 value: a display register of the table above
  kMmio,       // u8 mode, u32 offset, u64 value: any access, biased toward the display blocks
  kPte,        // u8 flags, u32 page, u32 frame: one GGTT entry (8-byte, two halves or one half)
  kMapRun,     // u8 flags, u16 page, u8 count, u16 frame: a run of 8-byte GGTT entries
  // u8 what (bits 4:0 pipe + 3·plane, 5 async, 6 enable the pipe first, 7 hidden slice),
  // u8 format (3:0 PLANE_CTL format, 6:4 tiling, 7 RGBX order; cursor: 2:0 pick a mode),
  // u8 order (1:0 YUV order, 3:2 alpha, 4 flip via 0x50080, 7 the other vGPU's slice),
  // u16 width-1, u16 height-1, u16 stride units, u16 surface page, u32 POS, u32 OFFSET
  kPlane,
  kPipe,       // u8 what (3:0 pipe, 4 program a mode, 5 disable), u16 htotal, u16 vtotal, u8 link rate
  kVblank,     // u8 count
  kAdvance,    // u16 × 10 µs of virtual time on the vblank clock
  kReset,      // device-model reset
  kFailsafe,   // u8 how: rsv5 write, fence access before PVINFO, fence beyond the allocation
  kHotspot,    // u32 x, u32 y
  kRecreateB,  // destroy the neighbour and create it again
  kOpCount,
};

struct World {
  display::VirtualClock clock;
  std::unique_ptr<Gpu> gpu;
  Vgpu* a = nullptr;
  Vgpu* b = nullptr;
  uint64_t bar = 0;
  uint64_t probe = 0;  // varies the pixels checked
  // Guest RAM never changes, so rendering is a function of the decoded plane and composing one
  // of the first active pipe's decode results: what was checked unchanged at the previous step
  // is not rendered again (pixel loops dominate the run time otherwise).
  std::string rendered[2][hw::kPipeCount * hw::kPlaneCount];
  std::string composed[2];
  decode::PlaneCache cache[2];  // must always answer what a fresh decode does
  size_t slot(const Vgpu& v) const { return &v == a ? 0 : 1; }
};

// Everything a decode result says, as bytes: equal keys, equal pictures.
std::string key_of(const Expected<decode::PlaneInfo, decode::DecodeError>& r) {
  std::string k;
  const auto put = [&k](const auto& x) { k.append(reinterpret_cast<const char*>(&x), sizeof x); };
  if (!r) {
    put(r.error().kind);
    return k + r.error().reason;
  }
  const decode::PlaneInfo& p = *r;
  put(p.pipe), put(p.plane), put(p.fourcc), put(p.modifier), put(p.tiling), put(p.cpp), put(p.width);
  put(p.height), put(p.stride), put(p.size), put(p.base.value()), put(p.x_offset), put(p.y_offset);
  put(p.x_pos), put(p.y_pos), put(p.x_hot), put(p.y_hot);
  for (MemfdOffset o : p.pages) put(o.value());
  return k;
}

std::shared_ptr<GuestRam>& ram_a() {
  static auto r = make_ram(kRamA, "display-fuzz-a");
  return r;
}
std::shared_ptr<GuestRam>& ram_b() {
  static auto r = make_ram(kRamB, "display-fuzz-b");
  return r;
}

Vgpu* create_vgpu(Gpu& gpu, const std::shared_ptr<GuestRam>& ram) {
  auto v = gpu.create_vgpu("fuzz", ram);
  CHECK(v.has_value());
  return *v;
}

// A page of one of the slices: 0/1 = the op's own aperture/hidden, 2/3 = the other vGPU's.
Gma slice_page(const Vgpu& self, const Vgpu& other, unsigned sel, uint32_t page) {
  const Vgpu& v = sel & 2 ? other : self;
  const GmRange r = sel & 1 ? v.resources().hidden : v.resources().aperture;
  return r.begin + uint64_t{page} % (r.size / kPageSize) * kPageSize;
}

void write_reg(Vgpu& v, uint64_t off, uint32_t value) { (void)v.write(MmioOffset(off), 4, value); }
void write_pte(Vgpu& v, uint64_t page, uint64_t pte) { (void)v.write(hw::gtt_entry_offset(page), 8, pte); }

// --- The host side: decode, check, render, compose ------------------------------------------

// Tiled byte offset of byte column bx of row y, from the layouts of docs/hardware.md, Tiling
// (written out independently of src/fb/tile_layout.h); nothing for layouts not modelled here.
std::optional<uint64_t> surface_offset(const decode::PlaneInfo& p, uint64_t bx, uint64_t y) {
  switch (p.tiling) {
    case hw::Tiling::Linear: return y * p.stride + bx;
    case hw::Tiling::X: return ((y / 8) * (p.stride / 512) + bx / 512) * 4096 + (y % 8) * 512 + bx % 512;
    case hw::Tiling::Y:
      return ((y / 32) * (p.stride / 128) + bx / 128) * 4096 + (bx % 128 / 16) * 512 + (y % 32) * 16 + bx % 16;
    case hw::Tiling::Yf:
      if (p.cpp == 1)  // 64 B × 64 rows; offset bits 11..0 = x5 y5 x4 y4 y3 y2 y1 y0 x3 x2 x1 x0
        return ((y / 64) * (p.stride / 64) + bx / 64) * 4096 + (bx & 0xF) + (y & 0x1F) * 16 + ((bx >> 4) & 1) * 512 +
               ((y >> 5) & 1) * 1024 + ((bx >> 5) & 1) * 2048;
      // 16 and 32 bpp: 128 B × 32 rows; offset bits 11..0 = x6 y4 x5 y3 x4 y2 y1 y0 x3 x2 x1 x0.
      return ((y / 32) * (p.stride / 128) + bx / 128) * 4096 + (bx & 0xF) + (y & 7) * 16 + ((bx >> 4) & 1) * 128 +
             ((y >> 3) & 1) * 256 + ((bx >> 5) & 1) * 512 + ((y >> 4) & 1) * 1024 + ((bx >> 6) & 1) * 2048;
  }
  return std::nullopt;
}

// The 0xAARRGGBB value render_plane must produce for the pixel whose bytes start at raw (the
// word there, little-endian); nothing for formats this check does not model.
std::optional<uint32_t> expected_pixel(uint32_t fourcc, uint32_t raw) {
  const uint32_t c = raw & 0xFF;
  if (fourcc == hw::drm::kC8) return 0xFF000000u | c << 16 | c << 8 | c;  // grey: no palette yet
  const uint32_t swapped = (raw & 0xFF00FF00u) | (raw & 0xFF) << 16 | (raw >> 16 & 0xFF);
  switch (fourcc) {
    case hw::drm::kXRGB8888: return raw | 0xFF000000u;
    case hw::drm::kARGB8888: return raw;
    case hw::drm::kXBGR8888: return swapped | 0xFF000000u;
    case hw::drm::kABGR8888: return swapped;
    default: return std::nullopt;
  }
}

// Pixel (x, y) of the rendered window against the RAM word the guest's own PTE points at.
void check_pixel(const Vgpu& v, const decode::PlaneInfo& p, const fb::Image& img, uint32_t x, uint32_t y) {
  const auto off = surface_offset(p, (uint64_t{p.x_offset} + x) * p.cpp, uint64_t{p.y_offset} + y);
  if (!off) return;
  CHECK(*off + p.cpp <= p.size);
  const uint64_t pte = v.ggtt().guest_pte(p.base.page() + *off / kPageSize);
  const uint64_t memfd = hw::pte::kFrame.get(pte) * kPageSize + *off % kPageSize;
  const auto want = expected_pixel(p.fourcc, pattern(memfd & ~uint64_t{3}) >> (memfd % 4 * 8));
  if (!want) return;
  ++stats.pixel_checks;
  if (img.at(x, y) != *want) {
    std::fprintf(stderr, "pixel (%u, %u) of pipe %c plane %d: rendered %08x, RAM at %#lx says %08x\n", x, y,
                 hw::letter(p.pipe), static_cast<int>(p.plane), img.at(x, y), memfd, *want);
    std::abort();
  }
}

// Rows of one tile (the plane's size covers whole tile rows); 8 bpp Yf tiles are 64 B × 64 rows.
uint32_t tile_rows(hw::Tiling t, uint32_t cpp) {
  switch (t) {
    case hw::Tiling::Linear: return 1;
    case hw::Tiling::X: return 8;
    case hw::Tiling::Y: return 32;
    case hw::Tiling::Yf: return cpp == 1 ? 64 : 32;
  }
  return 0;
}

// The decoder's contract for one plane it accepted, then map and render it.
void check_plane(World& w, const Vgpu& v, const decode::PlaneInfo& p, hw::Pipe pipe, hw::Plane plane,
                 std::string key) {
  CHECK(p.pipe == pipe && p.plane == plane);
  CHECK(p.width > 0 && p.height > 0);
  CHECK(p.width <= 8192 && p.height <= (plane == hw::Plane::Primary ? 4096u : 8192u));
  // No plane larger than the vGPU type's maximum mode (docs/design.md "Display").
  CHECK(p.width <= v.type().max_width && p.height <= v.type().max_height);
  CHECK(p.cpp == 1 || p.cpp == 2 || p.cpp == 4);
  CHECK(fb::format_cpp(p.fourcc) == p.cpp);
  CHECK(p.stride > 0 && uint64_t{p.width} * p.cpp <= p.stride);
  CHECK(p.size == uint64_t{p.stride} * align_up(p.height, tile_rows(p.tiling, p.cpp)));
  CHECK(uint64_t{p.x_offset} + p.width <= p.stride / p.cpp);
  CHECK(uint64_t{p.y_offset} + p.height <= p.size / p.stride);
  if (plane == hw::Plane::Cursor) {
    CHECK(p.tiling == hw::Tiling::Linear && p.fourcc == hw::drm::kARGB8888 && p.width == p.height);
    CHECK(p.width == 64 || p.width == 128 || p.width == 256);
    CHECK(p.x_pos > -8192 && p.x_pos < 8192 && p.y_pos > -8192 && p.y_pos < 8192);
    CHECK((p.x_hot == hw::kHotspotUnknown && p.y_hot == hw::kHotspotUnknown) ||
          (p.x_hot < p.width && p.y_hot < p.height));
  } else {
    CHECK(p.x_pos >= 0 && p.x_pos < 8192 && p.y_pos >= 0 && p.y_pos < 8192);
    CHECK(p.x_hot == hw::kHotspotUnknown && p.y_hot == hw::kHotspotUnknown);
  }
  // GM range inside one slice of this vGPU, as the partitioner gave it (not as the view says).
  CHECK(p.base.page_aligned());
  CHECK(v.resources().aperture.contains(p.base, p.size) || v.resources().hidden.contains(p.base, p.size));
  // Every page is the frame the guest's own PTE names, inside its RAM.
  CHECK(p.pages.size() == align_up(p.size, kPageSize) / kPageSize);
  for (size_t k = 0; k < p.pages.size(); ++k) {
    const uint64_t pte = v.ggtt().guest_pte(p.base.page() + k);
    CHECK(hw::pte::kPresent.get(pte));
    CHECK(p.pages[k].value() == hw::pte::kFrame.get(pte) * kPageSize);
    CHECK(p.pages[k].value() + kPageSize <= v.ram().size());
  }

  ++stats.decoded[static_cast<size_t>(plane)];
  if (p.tiling != hw::Tiling::Linear) ++stats.tiled;
  if (fb::pixels_per_group(p.fourcc) == 2) ++stats.yuv;

  std::string& last = w.rendered[w.slot(v)][hw::index(pipe) * hw::kPlaneCount + static_cast<size_t>(plane)];
  if (key == last) return;
  last = std::move(key);
  auto view = fb::PlaneView::map(v.ram_ref(), p);
  if (!view) {
    std::fprintf(stderr, "decoded plane cannot be mapped: %s\n", view.error().c_str());
    std::abort();
  }
  CHECK(view->bytes().size() == p.pages.size() * kPageSize);
  auto img = fb::render_plane(p, *view);
  if (!img) {
    std::fprintf(stderr, "decoded plane cannot be rendered: %s\n", img.error().c_str());
    std::abort();
  }
  CHECK(img->width == p.width && img->height == p.height && img->px.size() == size_t{p.width} * p.height);
  ++stats.rendered;
  const uint32_t rx = static_cast<uint32_t>(w.probe % p.width);
  const uint32_t ry = static_cast<uint32_t>(w.probe / p.width % p.height);
  ++w.probe;
  for (auto [x, y] : {std::pair{0u, 0u}, std::pair{p.width - 1, p.height - 1}, std::pair{p.width - 1, 0u},
                      std::pair{0u, p.height - 1}, std::pair{rx, ry}})
    check_pixel(v, p, *img, x, y);
}

// Everything a consumer of this vGPU's display does.
void check_vgpu(World& w, const Vgpu& v) {
  std::optional<decode::PlaneInfo> first[hw::kPlaneCount];
  bool first_ok = true;  // every plane of the first active pipe decoded or is simply off
  const auto active = decode::first_active_pipe(v.vregs());
  std::string compose_key(1, active ? static_cast<char>('A' + hw::index(*active)) : '-');
  for (hw::Pipe pipe : hw::kPipes) {
    const decode::PipeSnapshot s = decode::snapshot(v.vregs(), pipe);
    CHECK(decode::pipe_active(v.vregs(), pipe) == (hw::pipe::kActive.get(s.pipeconf) != 0));
    CHECK(v.display().active(pipe) == decode::pipe_active(v.vregs(), pipe));
    if (v.failsafe()) CHECK(!v.display().active(pipe));
    for (hw::Plane plane : hw::kPlanes) {
      auto r = decode::decode_plane(s, plane, v.ggtt());
      std::string key = key_of(r);
      CHECK(key_of(decode::decode_plane(decode::plane_inputs(s, plane), plane, v.ggtt())) == key);
      if (pipe == active) {
        compose_key += key;
        CHECK(key_of(w.cache[w.slot(v)].decode(v.vregs(), plane, v.ggtt())) == key);
      }
      if (r) {
        CHECK(decode::pipe_active(v.vregs(), pipe));
        check_plane(w, v, *r, pipe, plane, std::move(key));
        if (pipe == active) first[static_cast<size_t>(plane)] = std::move(*r);
        continue;
      }
      CHECK(!r.error().reason.empty());
      if (stats.trace && r.error().kind != decode::DecodeError::Kind::NoPlane)
        std::fprintf(stderr, "vgpu %u: %s\n", v.id(), r.error().reason.c_str());
      switch (r.error().kind) {
        case decode::DecodeError::Kind::NoPlane: ++stats.no_plane; break;
        case decode::DecodeError::Kind::Invalid: ++stats.invalid; break;
        case decode::DecodeError::Kind::Fault: ++stats.fault; break;
      }
      if (pipe == active && (r.error().kind != decode::DecodeError::Kind::NoPlane || plane == hw::Plane::Primary))
        first_ok = false;
    }
  }

  if (compose_key == w.composed[w.slot(v)]) return;
  w.composed[w.slot(v)] = std::move(compose_key);
  auto pic = compose_display(v);
  // The picture exists exactly when the first active pipe's primary decodes and its sprite and
  // cursor decode or are off; it is the primary's size.
  CHECK(pic.has_value() == (active.has_value() && first_ok));
  if (!pic) {
    CHECK(!pic.error().empty());
    ++stats.compose_failed;
    return;
  }
  const auto& primary = first[static_cast<size_t>(hw::Plane::Primary)];
  CHECK(pic->pipe == *active);
  CHECK(pic->image.width == primary->width && pic->image.height == primary->height);
  CHECK(pic->image.px.size() == size_t{primary->width} * primary->height);
  CHECK(pic->sprite == first[static_cast<size_t>(hw::Plane::Sprite)].has_value());
  CHECK(pic->cursor == first[static_cast<size_t>(hw::Plane::Cursor)].has_value());
  for (uint32_t px : {pic->image.px.front(), pic->image.px.back()}) CHECK(px >> 24 == 0xFF);  // opaque
  ++stats.composed;
  stats.composed_sprite += pic->sprite;
  stats.composed_cursor += pic->cursor;
}

// What only the host writes: pipe state bits, frame and flip counters, every SURFLIVE.
std::vector<uint32_t> host_owned(const Vgpu& v) {
  std::vector<uint32_t> out;
  for (hw::Pipe p : hw::kPipes) {
    out.push_back(v.vregs().read32(hw::pipe_reg(p, hw::pipe::kConf)) & hw::pipe::kActive.set(0, 1));
    out.push_back(v.vregs().read32(hw::pipe_reg(p, hw::pipe::kFrameCount)));
    out.push_back(v.vregs().read32(hw::pipe_reg(p, hw::pipe::kFlipCount)));
    out.push_back(v.vregs().read32(hw::cursor::reg(p, hw::cursor::kSurfLive)));
    for (uint32_t n : {1u, 2u}) out.push_back(v.vregs().read32(hw::plane::reg(p, n, hw::plane::kSurfLive)));
  }
  return out;
}

// --- The guest side: one op ---------------------------------------------------------------------

void run_op(World& w, Reader& in) {
  const uint8_t code = in.u8();
  const bool on_b = code & 0x80;
  Vgpu& g = on_b ? *w.b : *w.a;
  const Vgpu& other = on_b ? *w.a : *w.b;
  const uint8_t op = (code & 0x7F) % kOpCount;
  // A failsafe guest keeps being served, but nothing it writes may move what only the host sets.
  std::optional<std::vector<uint32_t>> frozen;
  if (g.failsafe() && op != kReset && op != kRecreateB) frozen = host_owned(g);
  switch (op) {
    case kReg: {
      const uint8_t sel = in.u8();
      const uint32_t value = in.u32();
      const size_t n = sel % (kPipeRegCount * hw::kPipeCount + kGlobalRegCount);
      const uint64_t off = n < kPipeRegCount * hw::kPipeCount
                               ? kPipeRegs[n % kPipeRegCount] + n / kPipeRegCount * hw::kPipeStride
                               : kGlobalRegs[n - kPipeRegCount * hw::kPipeCount];
      write_reg(g, off, value);
      break;
    }
    case kMmio: {
      const uint8_t mode = in.u8();
      const uint32_t o = in.u32();
      const uint64_t value = in.u64();
      static constexpr unsigned kSizes[] = {4, 4, 8, 2, 1, 4, 8, 3};  // 3: refused on purpose
      const unsigned size = kSizes[mode & 7];
      uint64_t off = 0;
      switch (mode >> 4 & 7) {
        case 0:
        case 1: off = hw::kDisplayEngineBlock.base + o % hw::kDisplayEngineBlock.size; break;
        case 2: off = hw::kPvinfoOffset + o % hw::kPvinfoSize; break;
        case 3: off = hw::kMmioFlipBlock.base + o % hw::kMmioFlipBlock.size; break;
        case 4: off = hw::kDeInterruptBlock.base + o % hw::kDeInterruptBlock.size; break;
        case 5: off = hw::kGttOffset + o % (w.bar - hw::kGttOffset); break;
        default: off = o % (w.bar + 64); break;
      }
      if (mode & 8) {
        uint64_t v = 0;
        (void)g.read(MmioOffset(off), size, v);
      } else {
        (void)g.write(MmioOffset(off), size, value);
      }
      break;
    }
    case kPte: {
      const uint8_t flags = in.u8();
      const uint32_t page = in.u32(), f = in.u32();
      const uint64_t ggtt_pages = w.gpu->geometry().ggtt_size / kPageSize;
      const uint64_t index = (flags & 7) < 4 ? slice_page(g, other, flags & 7, page).page() : page % (ggtt_pages + 16);
      const uint64_t frame = flags & 0x10 ? f : f % (g.ram().size() / kPageSize);
      const uint64_t pte = (flags & 0x08 ? 0 : 1) | uint64_t{frame} << 12 | (flags & 0x80 ? uint64_t{f} << 39 : 0);
      const MmioOffset at = hw::gtt_entry_offset(index);
      switch (flags >> 5 & 3) {
        case 0: (void)g.write(at, 8, pte); break;
        case 1:
          (void)g.write(at, 4, pte & 0xFFFFFFFF);
          (void)g.write(at + 4, 4, pte >> 32);
          break;
        case 2: (void)g.write(at, 4, pte & 0xFFFFFFFF); break;
        case 3: (void)g.write(at + 4, 4, pte >> 32); break;
      }
      break;
    }
    case kMapRun: {
      const uint8_t flags = in.u8();
      const uint16_t page = in.u16();
      const uint32_t count = (uint32_t{in.u8()} + 1) * 4;
      const uint16_t first = in.u16();
      const uint64_t ram_pages = g.ram().size() / kPageSize;
      const Gma start = slice_page(g, other, flags & 3, page);
      for (uint32_t k = 0; k < count; ++k) {
        uint64_t frame = 0;
        switch (flags >> 2 & 3) {
          case 0: frame = first + k; break;                              // contiguous
          case 1: frame = first; break;                                  // one page repeated
          case 2: frame = first + count - 1 - k; break;                  // descending
          case 3: frame = first + (k * 2654435761u >> 7) % ram_pages; break;  // scattered
        }
        if (!(flags & 0x10)) frame %= ram_pages;  // else frames may lie beyond RAM
        write_pte(g, start.page() + k, hw::pte::make(frame));  // runs past the slice end too
      }
      break;
    }
    case kPlane: {
      const uint8_t what = in.u8(), format = in.u8(), order = in.u8();
      const uint32_t width = in.u16() % 8192, height = in.u16() % 8192;  // minus 1
      const uint32_t stride = in.u16() % 1024, page = in.u16();
      const uint32_t pos = in.u32(), offset = in.u32();
      const auto pipe = static_cast<hw::Pipe>((what & 0x1F) % 3);
      const auto plane = static_cast<hw::Plane>((what & 0x1F) / 3 % 3);
      const bool async = what & 0x20;
      if (what & 0x40) write_reg(g, hw::pipe_reg(pipe, hw::pipe::kConf), 1u << 31);
      const Gma surf = slice_page(g, other, what >> 7 | (order >> 6 & 2), page);
      if (plane == hw::Plane::Cursor) {
        static constexpr uint32_t kModes[] = {0x27, 0x22, 0x23, 0x07, 0x00, 0x01, 0x20, 0x26};
        write_reg(g, hw::cursor::reg(pipe, hw::cursor::kCntr), kModes[format & 7] | (async ? 1u << 9 : 0));
        write_reg(g, hw::cursor::reg(pipe, hw::cursor::kPos), pos);
        write_reg(g, hw::cursor::reg(pipe, hw::cursor::kBase), static_cast<uint32_t>(surf.value()));
        break;
      }
      const uint32_t n = hw::universal_index(plane);
      const uint32_t ctl = 1u << 31 | static_cast<uint32_t>(format & 0xF) << 24 | static_cast<uint32_t>(format >> 4 & 7) << 10 |
                           (format & 0x80 ? 1u << 20 : 0) | static_cast<uint32_t>(order & 3) << 16 | static_cast<uint32_t>(order >> 2 & 3) << 4 |
                           (async ? 1u << 9 : 0);
      if (plane == hw::Plane::Primary)
        write_reg(g, hw::pipe_reg(pipe, hw::trans::kPipeSrc), width << 16 | height % 4096);
      else
        write_reg(g, hw::plane::reg(pipe, n, hw::plane::kSize), height << 16 | width);
      write_reg(g, hw::plane::reg(pipe, n, hw::plane::kCtl), ctl);
      write_reg(g, hw::plane::reg(pipe, n, hw::plane::kStride), stride);
      write_reg(g, hw::plane::reg(pipe, n, hw::plane::kPos), pos);
      write_reg(g, hw::plane::reg(pipe, n, hw::plane::kOffset), offset);
      if (order & 0x10)  // through the 0x50080 flip registers instead of PLANE_SURF
        write_reg(g, (plane == hw::Plane::Primary ? hw::mmio_flip::kPrimary : hw::mmio_flip::kSprite)[hw::index(pipe)],
                  static_cast<uint32_t>(surf.value()) | (async ? hw::mmio_flip::kAsync : 0));
      else
        write_reg(g, hw::plane::reg(pipe, n, hw::plane::kSurf), static_cast<uint32_t>(surf.value()));
      break;
    }
    case kPipe: {
      const uint8_t what = in.u8();
      const uint16_t htotal = in.u16(), vtotal = in.u16();
      const uint8_t rate = in.u8();
      const auto pipe = static_cast<hw::Pipe>((what & 0xF) % 3);
      if (what & 0x10) {  // a mode: timings, link M/N, the port's DPLL and its link rate
        write_reg(g, hw::pipe_reg(pipe, hw::trans::kHtotal), uint32_t{htotal} << 16 | (htotal / 2));
        write_reg(g, hw::pipe_reg(pipe, hw::trans::kVtotal), uint32_t{vtotal} << 16 | (vtotal / 2));
        write_reg(g, hw::pipe_reg(pipe, hw::trans::kLinkM1), uint32_t{rate} * 1000 + 1);
        write_reg(g, hw::pipe_reg(pipe, hw::trans::kLinkN1), 0x80000);
        write_reg(g, hw::dpll::kCtrl2, static_cast<uint32_t>(rate & 3) << (hw::dpll::kPortD * 3 + 1));
        write_reg(g, hw::dpll::kCtrl1, static_cast<uint32_t>(rate >> 2 & 7) << ((rate & 3) * 6 + 1));
      }
      write_reg(g, hw::pipe_reg(pipe, hw::pipe::kConf), what & 0x20 ? 0 : 0xC0000000u);
      break;
    }
    case kVblank: {
      const unsigned n = in.u8() % 4 + 1;
      for (unsigned k = 0; k < n; ++k) (void)g.vblank();
      break;
    }
    case kAdvance: w.clock.advance_by(uint64_t{in.u16()} * 10'000); break;
    case kReset: g.reset(); break;
    case kFailsafe: {
      const uint8_t how = in.u8();
      if (how % 3 == 0)
        (void)g.write(MmioOffset(hw::kPvinfoOffset + hw::pv::kRsv5 + 4 * (how / 3 % 4)), 4, how);
      else if (how % 3 == 1)  // a fence the guest owns, but before it ever read PVINFO
        (void)g.write(MmioOffset(hw::kFenceBase), 8, 0x1000 | how);
      else
        (void)g.write(MmioOffset(hw::kFenceBase + hw::kFenceStride * (how / 3 % hw::kMaxFences)), 8, how);
      break;
    }
    case kHotspot: {
      const uint32_t x = in.u32(), y = in.u32();
      write_reg(g, hw::kPvinfoOffset + hw::pv::kCursorXHot, x);
      write_reg(g, hw::kPvinfoOffset + hw::pv::kCursorYHot, y);
      break;
    }
    case kRecreateB: {
      CHECK(w.gpu->destroy_vgpu(w.b->id()));
      w.b = create_vgpu(*w.gpu, ram_b());
      for (std::string& k : w.rendered[1]) k.clear();
      w.composed[1].clear();
      break;
    }
  }
  if (frozen) CHECK(g.failsafe() && host_owned(g) == *frozen);
  check_vgpu(w, *w.a);
  check_vgpu(w, *w.b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  static bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  World w;
  GpuConfig cfg;
  cfg.types.push_back(VgpuType{"fuzz", {kApertureMiB * kMiB, kHiddenMiB * kMiB, 2}, 1, 1024, 768});
  auto gpu = Gpu::create(cfg);
  CHECK(gpu.has_value());
  w.gpu = std::move(*gpu);
  w.gpu->set_vblank_clock(&w.clock);  // declared first in World: outlives the vGPUs
  w.a = create_vgpu(*w.gpu, ram_a());
  w.b = create_vgpu(*w.gpu, ram_b());
  w.bar = hw::bar0_size(cfg.geometry.ggtt_size);
  ++stats.inputs;

  Reader in(data, len);
  for (size_t n = 0; n < kMaxOps && !in.empty(); ++n, ++stats.steps) run_op(w, in);
  return 0;
}
