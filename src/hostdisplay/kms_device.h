// Private to the KMS backend: the device fd shared by the display and what it made (buffers,
// blobs), so that a buffer outliving its display still removes its framebuffer on the right fd.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "util/unique_fd.h"

namespace vgd::hostdisplay::kms {

struct Device {
  UniqueFd fd;
  std::string name;  // "card0", "lease of card0"
};

// A property blob this process created (a mode): destroyed with the object.
class PropertyBlob {
 public:
  static std::unique_ptr<PropertyBlob> create(std::shared_ptr<Device> dev, const void* data, size_t size, int* err);
  ~PropertyBlob();
  PropertyBlob(const PropertyBlob&) = delete;
  PropertyBlob& operator=(const PropertyBlob&) = delete;
  uint32_t id() const { return id_; }

 private:
  PropertyBlob(std::shared_ptr<Device> dev, uint32_t id) : dev_(std::move(dev)), id_(id) {}
  std::shared_ptr<Device> dev_;
  uint32_t id_;
};

}  // namespace vgd::hostdisplay::kms
