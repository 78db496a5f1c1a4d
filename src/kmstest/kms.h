// The part of the KMS uapi vgpu-kmstest uses, over raw ioctls on /dev/dri/cardN (no libdrm
// library, only its copy of the kernel's uapi headers): resources, properties, dumb buffers,
// property blobs, atomic commits and flip-done events. Any failure throws KmsError with the
// ioctl and errno, which the steps turn into `kmstest: failed at <step>: <reason>`.
#pragma once

#include <drm.h>
#include <drm_mode.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vgd::kmstest {

struct KmsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An open DRM device with the universal-planes and atomic client caps set, and the writeback
// one when asked (vkms's writeback connector: the composed output, to check against the scene).
class Card {
 public:
  explicit Card(const std::string& path, bool writeback = false);
  ~Card();
  Card(const Card&) = delete;
  Card& operator=(const Card&) = delete;

  int fd() const { return fd_; }
  // One ioctl, repeated on EINTR/EAGAIN as libdrm's drmIoctl does; throws on any other error.
  void ioctl(unsigned long request, void* arg, const char* what) const;
  // The same, returning errno (0 on success) for the callers that expect some failures.
  int try_ioctl(unsigned long request, void* arg) const;

 private:
  int fd_ = -1;
};

// An object's properties: name -> id and current value.
struct Properties {
  std::map<std::string, uint32_t> ids;
  std::map<std::string, uint64_t> values;
  uint32_t id(const std::string& name) const;  // throws when the object has no such property
};
Properties object_properties(const Card& card, uint32_t object_id, uint32_t object_type);

struct Plane {
  uint32_t id = 0;
  uint32_t possible_crtcs = 0;
  std::vector<uint32_t> formats;
  Properties props;
  bool supports(uint32_t format) const;
};

// What the steps drive: the first connected connector, a CRTC its encoders can feed, and the
// planes of each type ("type" property: overlay, primary, cursor) that CRTC can show.
struct Pipeline {
  uint32_t connector_id = 0;
  std::string connector_name;  // "Virtual-1": the kernel's type name and type id
  std::vector<drm_mode_modeinfo> modes;
  Properties connector_props;
  uint32_t crtc_id = 0;
  Properties crtc_props;
  Plane primary;
  std::optional<Plane> overlay, cursor;
  // Other connectors now on the CRTC (fbdev's, say): id and CRTC_ID property, for the modeset to
  // take them off.
  std::vector<std::pair<uint32_t, uint32_t>> others_on_crtc;
};
// writeback: the connector is a writeback one (vkms's: the CRTC's composed output in a buffer of
// ours). It must be alone on its CRTC, since vkms's encoders cannot clone each other.
Pipeline find_pipeline(const Card& card, bool writeback = false);

// A dumb buffer, mapped and registered as a framebuffer; freed in reverse on destruction.
class DumbBuffer {
 public:
  DumbBuffer(const Card& card, uint32_t width, uint32_t height, uint32_t format);
  ~DumbBuffer();
  DumbBuffer(const DumbBuffer&) = delete;
  DumbBuffer& operator=(const DumbBuffer&) = delete;

  uint32_t fb_id() const { return fb_id_; }
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  uint32_t pitch() const { return pitch_; }
  uint64_t size() const { return size_; }
  uint32_t* pixels() const { return pixels_; }

 private:
  void release();

  const Card& card_;
  uint32_t width_, height_, handle_ = 0, pitch_ = 0, fb_id_ = 0;
  uint64_t size_ = 0;
  uint32_t* pixels_ = nullptr;
};

// A property blob (a mode for MODE_ID), destroyed with the object.
class Blob {
 public:
  Blob(const Card& card, const void* data, uint32_t length);
  ~Blob();
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;
  uint32_t id() const { return id_; }

 private:
  const Card& card_;
  uint32_t id_ = 0;
};

// One atomic request: property values grouped by object in the order first named.
class AtomicRequest {
 public:
  void set(uint32_t object_id, uint32_t property_id, uint64_t value);
  void set(uint32_t object_id, const Properties& props, const std::string& name, uint64_t value) {
    set(object_id, props.id(name), value);
  }
  // DRM_IOCTL_MODE_ATOMIC with flags (DRM_MODE_ATOMIC_*, DRM_MODE_PAGE_FLIP_EVENT); user_data
  // comes back in the flip-done event.
  void commit(const Card& card, uint32_t flags, uint64_t user_data = 0) const;

 private:
  std::vector<uint32_t> objects_;
  std::vector<std::vector<std::pair<uint32_t, uint64_t>>> props_;
};

// A flip-done event (DRM_EVENT_FLIP_COMPLETE) and when this program read it (CLOCK_MONOTONIC,
// the clock of the event's own timestamp).
struct FlipEvent {
  uint64_t user_data = 0;
  uint32_t sequence = 0;
  uint32_t tv_sec = 0, tv_usec = 0;
  uint32_t crtc_id = 0;
  uint64_t read_ns = 0;
  uint64_t timestamp_ns() const { return tv_sec * 1'000'000'000ull + tv_usec * 1'000ull; }
};
// Waits up to timeout_ms for the next event on the card; throws on a timeout or an event of
// another type.
FlipEvent wait_flip_event(const Card& card, int timeout_ms);
// True when an event is already waiting (a commit that produced two).
bool event_pending(const Card& card);

uint64_t monotonic_ns();
std::string mode_name(const drm_mode_modeinfo& m);  // "1024x768@60"

}  // namespace vgd::kmstest
