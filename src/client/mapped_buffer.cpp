#include "client/mapped_buffer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vgd::client {
namespace {

Unexpected<Error> protocol(std::string msg) { return Unexpected(Error{proto::Status::Protocol, std::move(msg)}); }

}  // namespace

MappedBuffer::MappedBuffer(const proto::BufferReply& r) noexcept
    : size_(r.size), id_(r.id), fourcc_(r.fourcc), modifier_(r.modifier), width_(r.width), height_(r.height),
      stride_(r.stride) {}

Result<std::shared_ptr<const MappedBuffer>> MappedBuffer::map(const proto::BufferReply& reply,
                                                              std::span<const proto::Extent> extents, UniqueFd memory,
                                                              UniqueFd dmabuf) {
  if (!memory) return Unexpected(Error{proto::Status::BadFd, fmt::format("buffer {}: no memory descriptor", reply.id)});
  if (extents.empty()) return protocol(fmt::format("buffer {}: no extents", reply.id));
  // mmap needs page-aligned offsets, and consecutive placement needs page-sized lengths.
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  uint64_t total = 0;
  for (size_t i = 0; i < extents.size(); ++i) {
    const proto::Extent& e = extents[i];
    if (e.length == 0 || e.offset % page != 0 || e.length % page != 0)
      return protocol(fmt::format("buffer {}: extent {} [{:#x}+{:#x}] is not whole pages", reply.id, i, e.offset,
                                  e.length));
    if (e.length > SIZE_MAX - total || e.offset > static_cast<uint64_t>(INT64_MAX) - e.length)
      return protocol(fmt::format("buffer {}: extents overflow the address space", reply.id));
    total += e.length;
  }
  if (total < reply.size)
    return protocol(fmt::format("buffer {}: extents cover {} bytes of a {}-byte plane", reply.id, total, reply.size));
  // A page mapped past the file's end, or one the file loses later, faults (SIGBUS) when read:
  // every extent inside the file, and the file sealed against shrinking (docs/protocol.md §3.5).
  struct stat st {};
  if (::fstat(memory.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return protocol(fmt::format("buffer {}: its memory descriptor is not a file", reply.id));
  const int seals = ::fcntl(memory.get(), F_GET_SEALS);
  if (seals < 0 || !(seals & F_SEAL_SHRINK))
    return protocol(fmt::format("buffer {}: its memory file is not sealed against shrinking", reply.id));
  for (size_t i = 0; i < extents.size(); ++i)
    if (extents[i].offset + extents[i].length > static_cast<uint64_t>(st.st_size))
      return protocol(fmt::format("buffer {}: extent {} [{:#x}+{:#x}] is past the end of its {}-byte file", reply.id, i,
                                  extents[i].offset, extents[i].length, st.st_size));

  std::shared_ptr<MappedBuffer> buf(new MappedBuffer(reply));
  // Reserve the whole range first so the extents land next to each other and one Mapping
  // unmaps all of them; PROT_NONE so nothing but the VM's pages is ever readable there.
  auto range = Mapping::anonymous(total);
  if (!range) return Unexpected(Error{static_cast<proto::Status>(-ENOMEM), range.error()});
  if (::mprotect(range->data(), total, PROT_NONE) != 0)
    return Unexpected(Error{static_cast<proto::Status>(-errno), fmt::format("mprotect: {}", std::strerror(errno))});
  uint64_t at = 0;
  for (const proto::Extent& e : extents) {
    if (::mmap(range->data() + at, e.length, PROT_READ, MAP_SHARED | MAP_FIXED, memory.get(),
               static_cast<off_t>(e.offset)) == MAP_FAILED) {
      const int err = errno;
      return Unexpected(Error{static_cast<proto::Status>(-err),
                              fmt::format("buffer {}: mapping [{:#x}+{:#x}]: {}", reply.id, e.offset, e.length,
                                          std::strerror(err))});
    }
    at += e.length;
  }
  buf->map_ = std::move(*range);
  buf->dmabuf_ = std::move(dmabuf);
  return std::shared_ptr<const MappedBuffer>(std::move(buf));
}

}  // namespace vgd::client
