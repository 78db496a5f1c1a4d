// vgpud's status in the Prometheus text exposition format (version 0.0.4): one family per
// metric, each with # HELP and # TYPE, per-vGPU series labelled vgpu="N", the event latency as
// a histogram in seconds. Pure: the same snapshot always gives the same text.
#pragma once

#include <string>
#include <string_view>

#include "server/status.h"

namespace vgd::web {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string prometheus_text(const server::DaemonStatus& s);

// A label value with \, " and newline escaped as the format asks.
std::string escape_label(std::string_view v);

}  // namespace vgd::web
