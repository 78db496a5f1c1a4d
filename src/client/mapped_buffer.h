// One exported plane buffer mapped into this process, read-only: the extents the daemon sent,
// mapped at consecutive addresses so data() shows the plane's bytes contiguously, straight from
// the VM's memory (no copy; a guest drawing into it shows through) — or, for the primary of a
// vGPU with tearing = copy, from a host shadow frame (one extent, id >= 0x40000000), which the
// daemon does not rewrite while this client holds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "client/error.h"
#include "proto/wire.h"
#include "util/mapping.h"
#include "util/unique_fd.h"

namespace vgd::client {

class MappedBuffer {
 public:
  // Maps `extents` of `memory` (page-aligned offsets and lengths, covering at least
  // reply.size bytes) into one reserved PROT_NONE range, each PROT_READ with MAP_FIXED.
  // `memory` must be a file sealed against shrinking (F_SEAL_SHRINK) that holds every extent,
  // so no page of the mapping can fault when read.
  // `memory` is closed once mapped (the mapping keeps the pages); `dmabuf` is kept.
  static Result<std::shared_ptr<const MappedBuffer>> map(const proto::BufferReply& reply,
                                                         std::span<const proto::Extent> extents, UniqueFd memory,
                                                         UniqueFd dmabuf = {});

  MappedBuffer(const MappedBuffer&) = delete;
  MappedBuffer& operator=(const MappedBuffer&) = delete;

  // The plane's bytes: size() of them, then up to the end of the last page (mapped_size()).
  const std::byte* data() const { return map_.data(); }
  size_t size() const { return size_; }
  size_t mapped_size() const { return map_.size(); }
  std::span<const std::byte> bytes() const { return {data(), mapped_size()}; }

  uint32_t id() const { return id_; }
  uint32_t fourcc() const { return fourcc_; }
  uint64_t modifier() const { return modifier_; }
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  uint32_t stride() const { return stride_; }
  // A dma-buf of the same bytes (for a GPU import), or -1 when the daemon has no udmabuf.
  // Owned by this object: dup() it to keep it longer.
  int dmabuf_fd() const { return dmabuf_.get(); }

 private:
  explicit MappedBuffer(const proto::BufferReply& r) noexcept;
  Mapping map_;
  UniqueFd dmabuf_;
  size_t size_ = 0;
  uint32_t id_ = 0, fourcc_ = 0;
  uint64_t modifier_ = 0;
  uint32_t width_ = 0, height_ = 0, stride_ = 0;
};

}  // namespace vgd::client
