#include "decode/decoder.h"

#include "hw/pvinfo.h"

namespace vgd::decode {

PipeSnapshot snapshot(const VregFile& regs, hw::Pipe p) {
  using namespace hw;
  auto r = [&](uint64_t off) { return regs.read32(off); };
  PipeSnapshot s;
  s.pipe = p;
  s.pipeconf = r(pipe_reg(p, pipe::kConf));
  s.pipesrc = r(pipe_reg(p, trans::kPipeSrc));
  for (auto [n, u] : {std::pair{1u, &s.primary}, std::pair{2u, &s.sprite}}) {
    u->ctl = r(plane::reg(p, n, plane::kCtl));
    u->stride = r(plane::reg(p, n, plane::kStride));
    u->pos = r(plane::reg(p, n, plane::kPos));
    u->size = r(plane::reg(p, n, plane::kSize));
    u->surf = r(plane::reg(p, n, plane::kSurf));
    u->offset = r(plane::reg(p, n, plane::kOffset));
    u->surflive = r(plane::reg(p, n, plane::kSurfLive));
  }
  s.curcntr = r(cursor::reg(p, cursor::kCntr));
  s.curbase = r(cursor::reg(p, cursor::kBase));
  s.curpos = r(cursor::reg(p, cursor::kPos));
  s.cursurflive = r(cursor::reg(p, cursor::kSurfLive));
  s.x_hot = r(kPvinfoOffset + pv::kCursorXHot);
  s.y_hot = r(kPvinfoOffset + pv::kCursorYHot);
  return s;
}

bool pipe_active(const VregFile& regs, hw::Pipe p) {
  return hw::pipe::kActive.get(regs.read32(hw::pipe_reg(p, hw::pipe::kConf))) != 0;
}

}  // namespace vgd::decode
