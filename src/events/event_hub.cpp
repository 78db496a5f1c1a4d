#include "events/event_hub.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "events/event_value.h"

namespace vgd::events {

namespace {

// Where /proc is mounted, an eventfd's link reads "anon_inode:[eventfd]". Anything else (a
// pipe, a socket) can raise SIGPIPE or fill up for other reasons; without /proc there is no
// telling, and the fd is taken on trust.
bool maybe_eventfd(int fd) {
  std::array<char, 64> link{};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), link.data(), link.size() - 1);
  return n < 0 || std::string_view(link.data(), static_cast<size_t>(n)) == "anon_inode:[eventfd]";
}

}  // namespace

Expected<ConsumerId, std::string> EventHub::add_consumer(UniqueFd eventfd) {
  if (eventfd) {
    // What it is first, so that a pipe or a memfd is told so rather than to be non-blocking.
    if (!maybe_eventfd(eventfd.get())) return Unexpected(std::string("event fd is not an eventfd"));
    const int flags = ::fcntl(eventfd.get(), F_GETFL);
    if (flags < 0) return Unexpected(std::string("event fd: ") + std::strerror(errno));
    if (!(flags & O_NONBLOCK)) return Unexpected(std::string("event fd must be non-blocking (EFD_NONBLOCK)"));
  }
  const ConsumerId id = next_id_++;
  consumers_.push_back(Consumer{id, std::move(eventfd)});
  return id;
}

EventHub::Consumer* EventHub::find(ConsumerId id) {
  auto it = std::ranges::lower_bound(consumers_, id, {}, &Consumer::id);
  return it != consumers_.end() && it->id == id ? &*it : nullptr;
}
const EventHub::Consumer* EventHub::find(ConsumerId id) const { return const_cast<EventHub*>(this)->find(id); }

bool EventHub::remove_consumer(ConsumerId id) {
  Consumer* c = find(id);
  if (!c) return false;
  consumers_.erase(consumers_.begin() + (c - consumers_.data()));
  return true;
}

bool EventHub::set_masked(ConsumerId id, bool masked) {
  Consumer* c = find(id);
  if (!c) return false;
  c->masked = masked;
  return true;
}

std::optional<bool> EventHub::masked(ConsumerId id) const {
  const Consumer* c = find(id);
  return c ? std::optional(c->masked) : std::nullopt;
}

std::optional<uint64_t> EventHub::poll(ConsumerId id) {
  Consumer* c = find(id);
  return c ? std::optional(std::exchange(c->pending, 0)) : std::nullopt;
}

void EventHub::publish(uint64_t value) {
  if (value == 0) return;
  ++stats_.published;
  for (Consumer& c : consumers_) {
    if (c.masked) {
      ++stats_.masked_dropped;
      continue;
    }
    c.pending = accumulate(c.pending, value);
    if (c.fd) signal(c);
  }
}

void EventHub::signal(Consumer& c) {
  // The consumer shares the fd's file description and could have made it blocking since it
  // registered; a full counter would then stall us. Checked per write: narrows, but cannot close,
  // the window against a consumer that flips the flag on purpose.
  const int flags = ::fcntl(c.fd.get(), F_GETFL);
  if (flags < 0 || !(flags & O_NONBLOCK)) {
    ++stats_.failed;
    return;
  }
  // Every field saturated is the one value eventfd refuses outright; a saturated count is only a
  // lower bound anyway.
  const uint64_t v = c.pending == UINT64_MAX ? UINT64_MAX - 1 : c.pending;
  ssize_t n;
  do {
    n = ::write(c.fd.get(), &v, sizeof v);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof v)) {
    c.pending = 0;
    ++stats_.signalled;
  } else if (n < 0 && errno == EAGAIN) {
    ++stats_.overflowed;  // kept in pending: added to the next write or taken by poll()
  } else {
    ++stats_.failed;
  }
}

}  // namespace vgd::events
