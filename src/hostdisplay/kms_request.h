// The atomic request of the KMS backend as data (docs/direct-flip.md, The KMS backend): a State
// becomes (object, property, value) triples by property name, through a builder that stays
// failed once one add failed (an object without that property is not this display's), so the
// caller checks once before it commits. Test and real commits build the same request. Pure.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "hostdisplay/host_display.h"
#include "util/expected.h"

namespace vgd::hostdisplay::kms {

// Property ids by name, per object id, as enumeration found them.
class PropertyTable {
 public:
  void set(uint32_t object_id, std::string name, uint32_t property_id) { ids_[object_id][std::move(name)] = property_id; }
  void forget(uint32_t object_id) { ids_.erase(object_id); }
  void clear() { ids_.clear(); }
  uint32_t find(uint32_t object_id, std::string_view name) const;  // 0: no such property
  bool has_object(uint32_t object_id) const { return ids_.count(object_id) != 0; }

 private:
  std::map<uint32_t, std::map<std::string, uint32_t, std::less<>>> ids_;
};

struct PropertySet {
  uint32_t object_id = 0, property_id = 0;
  uint64_t value = 0;
  bool operator==(const PropertySet&) const = default;
};

class RequestBuilder {
 public:
  explicit RequestBuilder(const PropertyTable& props) : props_(props) {}
  // Adds one property by name; a no-op once the request has failed.
  void add(uint32_t object_id, std::string_view property, uint64_t value);
  void fail(std::string why);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  const std::vector<PropertySet>& sets() const { return sets_; }

 private:
  const PropertyTable& props_;
  std::vector<PropertySet> sets_;
  std::string error_;
};

// The whole request for `state`; `mode_blobs` gives the MODE_ID blob of each CRTC whose state
// sets a mode (the caller created them). A plane's hotspot becomes HOTSPOT_X/Y where the plane
// has those properties and is left out elsewhere.
Expected<std::vector<PropertySet>, std::string> build_request(const State& state, const PropertyTable& props,
                                                              const std::map<uint32_t, uint32_t>& mode_blobs);

// DRM_MODE_* flags of drmModeAtomicCommit for our CommitFlags. A test never asks for an event
// (the kernel refuses TEST_ONLY with PAGE_FLIP_EVENT), so a caller can test with the flags it
// will commit with.
inline constexpr uint32_t kDrmPageFlipEvent = 0x01, kDrmPageFlipAsync = 0x02, kDrmTestOnly = 0x0100,
                          kDrmNonblock = 0x0200, kDrmAllowModeset = 0x0400;
uint32_t drm_commit_flags(uint32_t flags);
// "TEST_ONLY|ALLOW_MODESET", "none": for the log line of each commit.
std::string flags_text(uint32_t flags);

}  // namespace vgd::hostdisplay::kms
