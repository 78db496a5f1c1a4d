// Delivers one vGPU's refresh-event values (event_value.h) to its consumers. A consumer either
// registers an eventfd, to which each value is written (the kernel adds it to the counter), or
// none, and then polls for the sum of what was published since its last poll. Each consumer can
// be masked: a masked consumer is neither signalled nor accumulates anything (like the mask
// flag of the unmerged VFIO refresh-event series).
//
// A consumer never slows the publisher down: eventfds must be non-blocking, and a write the
// kernel refuses because the counter would overflow (a consumer that stopped reading, or that
// wrote to its own eventfd) is counted and its value kept, to be added to the next write (or
// taken by poll()), so no event is lost.
//
// Not thread-safe: the caller serialises (the vGPU's owner thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/expected.h"
#include "util/unique_fd.h"

namespace vgd::events {

// Assigned by the hub, from 1, never reused; 0 is never a consumer.
using ConsumerId = uint32_t;

struct HubStats {
  uint64_t published = 0;       // non-zero values published
  uint64_t signalled = 0;       // successful eventfd writes
  uint64_t masked_dropped = 0;  // deliveries skipped because the consumer was masked
  uint64_t overflowed = 0;      // eventfd writes refused by a full counter (value kept)
  uint64_t failed = 0;          // eventfd writes failing otherwise or skipped because the
                                // consumer made its fd blocking (value kept)
};

class EventHub {
 public:
  // An eventfd must be non-blocking (EFD_NONBLOCK): a blocking write could stall the vGPU.
  // Fails, with the reason, for a blocking fd or one that is not an eventfd. Starts unmasked.
  Expected<ConsumerId, std::string> add_consumer(UniqueFd eventfd = {});
  // Closes the consumer's eventfd; false for an unknown id.
  bool remove_consumer(ConsumerId id);
  // False for an unknown id.
  bool set_masked(ConsumerId id, bool masked);
  std::optional<bool> masked(ConsumerId id) const;

  // Adds `value` to every unmasked consumer. Does nothing for 0.
  void publish(uint64_t value);

  // What was published to this consumer and not yet delivered through an eventfd, cleared: for
  // a polling consumer everything since its last poll; for an eventfd consumer what its full
  // counter refused. nullopt for an unknown id.
  std::optional<uint64_t> poll(ConsumerId id);

  size_t consumers() const { return consumers_.size(); }
  const HubStats& stats() const { return stats_; }

 private:
  struct Consumer {
    ConsumerId id;
    UniqueFd fd;
    uint64_t pending = 0;
    bool masked = false;
  };
  Consumer* find(ConsumerId id);
  const Consumer* find(ConsumerId id) const;
  void signal(Consumer& c);

  std::vector<Consumer> consumers_;  // sorted by id: ids only grow
  ConsumerId next_id_ = 1;
  HubStats stats_;
};

}  // namespace vgd::events
