// decode_plane(): registers → plane description, with every check of docs/hardware.md, Decoding.
// Pure: it reads only the snapshot and the GGTT view; error text is built only when failing.
#include "decode/decoder.h"

#include <fmt/format.h>

#include <string_view>

namespace vgd::decode {
namespace {

using Kind = DecodeError::Kind;
using hw::Plane;

std::string_view plane_name(Plane p) {
  switch (p) {
    case Plane::Primary: return "primary";
    case Plane::Sprite: return "sprite";
    case Plane::Cursor: return "cursor";
  }
  return "plane?";
}

// Every error names the pipe and plane, so a log line alone says which surface was refused.
Unexpected<DecodeError> fail(Kind k, const PlaneInfo& i, std::string what) {
  return Unexpected(DecodeError{k, fmt::format("pipe {} {}: {}", hw::letter(i.pipe), plane_name(i.plane), what)});
}
// A refusal of something the guest programmed: which attack of the catalogue it is.
Unexpected<DecodeError> fail(GuestAttack a, Kind k, const PlaneInfo& i, std::string what) {
  auto e = fail(k, i, std::move(what));
  e.error.attack = a;
  return e;
}

// CURPOS coordinate: magnitude plus a sign bit (upstream drops the sign; docs/hardware.md, Cursor).
int32_t sign_magnitude(uint32_t reg, hw::Field<uint32_t> magnitude, hw::Field<uint32_t> sign) {
  const auto m = static_cast<int32_t>(magnitude.get(reg));  // at most 13 bits: no overflow
  return sign.get(reg) ? -m : m;
}

// Universal plane (primary or sprite): format, tiling and geometry from its registers.
Expected<PlaneInfo, DecodeError> decode_universal(const PipeSnapshot& s, PlaneInfo i) {
  namespace pl = hw::plane;
  const PipeSnapshot::Universal& u = i.plane == Plane::Primary ? s.primary : s.sprite;
  if (!pl::kEnable.get(u.ctl)) return fail(Kind::NoPlane, i, "plane disabled (PLANE_CTL bit 31 clear)");

  const uint32_t code = pl::kFormat.get(u.ctl);
  const auto format = hw::format_from_ctl(code, pl::kRgbxOrder.get(u.ctl) != 0, pl::kYuvOrder.get(u.ctl),
                                          pl::kAlpha.get(u.ctl));
  if (!format) return fail(GuestAttack::PlaneBadFormat, Kind::Invalid, i, fmt::format("unsupported pixel format code {} (PLANE_CTL 27:24)", code));
  const uint32_t tcode = pl::kTiling.get(u.ctl);
  const auto tiling = hw::tiling_from_ctl(tcode, format->cpp);
  if (!tiling) return fail(GuestAttack::PlaneBadTiling, Kind::Invalid, i, fmt::format("reserved tiling code {} (PLANE_CTL 12:10)", tcode));
  // Rotation (PLANE_CTL 1:0) is accepted but ignored: the surface is exported unrotated, as
  // upstream does; a viewer sees the guest's memory layout.

  i.fourcc = format->fourcc;
  i.cpp = format->cpp;
  i.tiling = tiling->tiling;
  i.modifier = tiling->modifier;
  i.stride = pl::kStrideField.get(u.stride) * tiling->stride_unit;
  if (i.plane == Plane::Primary) {  // full-screen: PIPESRC, not PLANE_SIZE (hardware.md, Planes)
    i.width = hw::trans::kSrcWidth.get(s.pipesrc) + 1;
    i.height = hw::trans::kSrcHeight.get(s.pipesrc) + 1;
  } else {  // the sprite has its own size and position
    i.width = pl::kXY_X.get(u.size) + 1;
    i.height = pl::kXY_Y.get(u.size) + 1;
    i.x_pos = static_cast<int32_t>(pl::kXY_X.get(u.pos));
    i.y_pos = static_cast<int32_t>(pl::kXY_Y.get(u.pos));
    // No plane is larger than the mode: the engine keeps a lit pipe's source within the vGPU
    // type's maximum, so this bounds every plane a consumer maps or composes.
    const uint32_t mode_w = hw::trans::kSrcWidth.get(s.pipesrc) + 1, mode_h = hw::trans::kSrcHeight.get(s.pipesrc) + 1;
    if (i.width > mode_w || i.height > mode_h)
      return fail(GuestAttack::SpriteLargerThanPipe, Kind::Invalid, i, fmt::format("{}x{} pixels do not fit the {}x{} pipe source", i.width, i.height, mode_w, mode_h));
  }
  i.x_offset = pl::kOffsetX.get(u.offset);
  i.y_offset = pl::kOffsetY.get(u.offset);
  // 64-bit: stride and rows come from the guest; their product must never wrap.
  i.size = uint64_t{i.stride} * align_up(i.height, tiling->size_rows);
  i.base = Gma(u.surflive & pl::kSurfAddrMask);  // the latched surface: what is scanned out now
  return i;
}

Expected<PlaneInfo, DecodeError> decode_cursor(const PipeSnapshot& s, PlaneInfo i) {
  namespace cur = hw::cursor;
  const uint32_t mode = s.curcntr & cur::kModeMask;
  if (static_cast<cur::Mode>(mode) == cur::Mode::Disabled) return fail(Kind::NoPlane, i, "cursor disabled (CURCNTR mode 0)");
  const auto side = hw::cursor_size(mode);
  if (!side) return fail(GuestAttack::CursorBadMode, Kind::Invalid, i, fmt::format("unsupported cursor mode 0x{:02x} (CURCNTR & 0x27)", mode));

  i.fourcc = hw::drm::kARGB8888;
  i.cpp = 4;
  i.tiling = hw::Tiling::Linear;
  i.modifier = hw::drm::kModLinear;
  i.width = i.height = *side;
  i.stride = *side * 4;
  i.size = uint64_t{i.stride} * i.height;
  i.base = Gma(s.cursurflive & hw::plane::kSurfAddrMask);
  i.x_pos = sign_magnitude(s.curpos, cur::kPosX, cur::kPosXSign);
  i.y_pos = sign_magnitude(s.curpos, cur::kPosY, cur::kPosYSign);
  // Strictly inside: newest upstream accepts x_hot == width (≤), but column `width` is outside a
  // width-pixel cursor. An out-of-range pair is "unknown", never clamped.
  if (s.x_hot < i.width && s.y_hot < i.height) {
    i.x_hot = s.x_hot;
    i.y_hot = s.y_hot;
  }
  return i;
}

// The checks of docs/hardware.md, Decoding, on a decoded surface, then its page list through the
// host view of the GGTT.
Expected<PlaneInfo, DecodeError> validate(PlaneInfo i, const GgttView& ggtt) {
  // Holds by construction (the base is masked); kept so a change there cannot export a
  // misaligned base.
  if (!i.base.page_aligned())
    return fail(Kind::Fault, i, fmt::format("surface base 0x{:x} is not 4 KiB aligned", i.base.value()));
  if (i.size == 0)
    return fail(GuestAttack::PlaneZeroSize, Kind::Invalid, i, fmt::format("zero-sized surface (stride {} bytes × {} rows)", i.stride, i.height));
  if (uint64_t{i.width} * i.cpp > i.stride)
    return fail(GuestAttack::PlaneStrideTooSmall, Kind::Invalid, i,
                fmt::format("{} pixels × {} bytes exceed the stride of {} bytes: rows would overlap", i.width,
                            i.cpp, i.stride));
  const uint64_t row_pixels = i.stride / i.cpp, rows = i.size / i.stride;
  if (uint64_t{i.x_offset} + i.width > row_pixels || uint64_t{i.y_offset} + i.height > rows)
    return fail(GuestAttack::PlaneWindowOutside, Kind::Invalid, i,
                fmt::format("window {}x{} at offset ({}, {}) leaves the {}x{}-pixel surface", i.width, i.height,
                            i.x_offset, i.y_offset, row_pixels, rows));

  if (!ggtt.owns_range(i.base, i.size)) {
    const GmRange ap = ggtt.aperture(), hid = ggtt.hidden();
    if (!ggtt.owns(i.base))
      return fail(GuestAttack::PlaneForeignBase, Kind::Fault, i,
                  fmt::format("surface base 0x{:x} is outside the vGPU's graphics memory (aperture "
                              "[0x{:x}, 0x{:x}), hidden [0x{:x}, 0x{:x}))",
                              i.base.value(), ap.begin.value(), ap.end().value(), hid.begin.value(),
                              hid.end().value()));
    const bool in_ap = ap.contains(i.base);
    return fail(GuestAttack::PlaneCrossesSlice, Kind::Fault, i,
                fmt::format("surface [0x{:x}, +{} bytes) runs past the end of the {} slice at 0x{:x}",
                            i.base.value(), i.size, in_ap ? "aperture" : "hidden",
                            (in_ap ? ap : hid).end().value()));
  }

  const uint64_t n = align_up(i.size, kPageSize) / kPageSize;  // bounded by the slice size now
  i.pages.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    const Gma gm = i.base + k * kPageSize;
    const auto page = ggtt.translate(gm);
    if (!page || page->scratch)
      return fail(GuestAttack::PlaneUnmappedPage, Kind::Fault, i,
                  fmt::format("page {} of {} (GM 0x{:x}) is not mapped to guest RAM", k, n, gm.value()));
    i.pages.push_back(page->offset);
  }
  return i;
}

}  // namespace

std::optional<hw::Pipe> first_active_pipe(const VregFile& regs) {
  for (hw::Pipe p : hw::kPipes)
    if (pipe_active(regs, p)) return p;
  return std::nullopt;
}

PipeSnapshot plane_inputs(const PipeSnapshot& s, Plane plane) {
  PipeSnapshot in;
  in.pipe = s.pipe;
  in.pipeconf = s.pipeconf;
  switch (plane) {
    case Plane::Primary:
      in.pipesrc = s.pipesrc;  // the primary's size
      in.primary = s.primary;
      break;
    case Plane::Sprite:
      in.pipesrc = s.pipesrc;  // the sprite's bound
      in.sprite = s.sprite;
      break;
    case Plane::Cursor:
      in.curcntr = s.curcntr, in.curpos = s.curpos, in.cursurflive = s.cursurflive;
      in.x_hot = s.x_hot, in.y_hot = s.y_hot;
      break;
  }
  return in;
}

Decoded decode_plane(const PipeSnapshot& s, Plane plane, const GgttView& ggtt) {
  PlaneInfo i;
  i.pipe = s.pipe;
  i.plane = plane;
  // The state bit (30), which only the host sets: the enable bit (31) is the guest's request.
  if (!hw::pipe::kActive.get(s.pipeconf)) return fail(Kind::NoPlane, i, "pipe not active (PIPECONF bit 30 clear)");
  auto decoded = plane == Plane::Cursor ? decode_cursor(s, std::move(i)) : decode_universal(s, std::move(i));
  if (!decoded) return decoded;
  return validate(std::move(*decoded), ggtt);
}

}  // namespace vgd::decode
