// How libvgd-client reports failure: the daemon's error code and message, or a local failure
// with the same shape (a negated errno, e.g. -ECONNREFUSED from connect), so callers handle
// one type.
#pragma once

#include <string>
#include <string_view>

#include "proto/wire.h"
#include "util/expected.h"

namespace vgd::client {

struct Error {
  // A proto::Status the daemon sent, Protocol for a broken exchange (malformed or mismatched
  // reply, lost connection), or any other negated errno for a local system call.
  proto::Status code = proto::Status::Protocol;
  std::string message;
};

template <class T>
using Result = Expected<T, Error>;

// The value of a call that succeeds with nothing to return.
struct Done {};

// "ENOENT"-style name of a code ("errno 42" for codes Status does not name).
std::string status_name(proto::Status code);
// "ENOENT: no such vGPU 7" — for messages to a human.
std::string describe(const Error& e);

}  // namespace vgd::client
