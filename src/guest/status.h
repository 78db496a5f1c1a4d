// Guest driver results: a code and a fixed message, no allocation.
#pragma once

#include <cstdint>

namespace vgd::guest {

enum class Error : uint8_t {
  None,
  NotVgpu,          // PVINFO magic absent
  VersionMismatch,  // PVINFO major version < 1
  NotDetected,      // operation needs a detected vGPU
  InvalidBalloon,   // PVINFO slices inconsistent with the GGTT geometry
  BalloonFailed,    // a hole could not be reserved
  NotBallooned,
  NoGmSpace,
  NoRamSpace,
  TooManyBuffers,
  FenceNotOwned,
  BadArgument,
  Timeout,          // the device never signalled (flip-done, vblank)
  Unsupported,      // mode or surface the display cannot show
};

constexpr const char* describe(Error e) {
  switch (e) {
    case Error::None: return "ok";
    case Error::NotVgpu: return "no PVINFO magic: not running on a vGPU";
    case Error::VersionMismatch: return "PVINFO version mismatch (major < 1)";
    case Error::NotDetected: return "vGPU not detected yet";
    case Error::InvalidBalloon: return "Invalid ballooning configuration";
    case Error::BalloonFailed: return "could not reserve a balloon hole";
    case Error::NotBallooned: return "graphics memory not ballooned yet";
    case Error::NoGmSpace: return "no room left in this vGPU's graphics memory slice";
    case Error::NoRamSpace: return "no guest RAM left for the buffer";
    case Error::TooManyBuffers: return "buffer table full";
    case Error::FenceNotOwned: return "fence register not allocated to this vGPU";
    case Error::BadArgument: return "bad argument";
    case Error::Timeout: return "timed out waiting for the display";
    case Error::Unsupported: return "mode or surface not supported by the display";
  }
  return "?";
}

}  // namespace vgd::guest
