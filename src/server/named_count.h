// A counter with the name it is reported under (status.h, /api and /metrics labels).
#pragma once

#include <cstdint>
#include <string_view>

namespace vgd::server {

struct NamedCount {
  std::string_view name;  // static storage: a name table's entry
  uint64_t value;
};

}  // namespace vgd::server
