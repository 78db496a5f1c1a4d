// The plane query record lives with the wire format (proto/plane_abi.h), which clients share;
// the exporter uses its names unqualified.
#pragma once

#include "proto/plane_abi.h"

namespace vgd::exporter {

using proto::GfxPlaneInfo;
using proto::kFlagDmabuf;
using proto::kFlagProbe;
using proto::kFlagRegion;
using proto::kHotUnknown;
using proto::kKnownFlags;
using proto::kMinArgsz;
using proto::kPlaneCursor;
using proto::kPlaneOverlay;
using proto::kPlanePrimary;
using proto::pos_bits;
using proto::signed_pos;

}  // namespace vgd::exporter
