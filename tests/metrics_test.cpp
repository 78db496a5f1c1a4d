// /metrics as a Prometheus scraper reads it: the text is parsed back line by line and checked
// against the exposition format (HELP and TYPE before every family's samples, families not
// split, counters named _total, histogram buckets cumulative with +Inf equal to _count) and
// against the snapshot it came from.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "web/prometheus.h"
#include "web_support.h"

namespace vgd {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help, type;
  std::vector<Sample> samples;
  std::vector<std::string> errors;

  // The family a sample belongs to (histogram series carry a suffix).
  std::string family(const std::string& name) const {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        const std::string base = name.substr(0, name.size() - s.size());
        if (auto t = type.find(base); t != type.end() && t->second == "histogram") return base;
      }
    }
    return name;
  }
  double value(const std::string& name, const std::map<std::string, std::string>& labels) const {
    for (const auto& s : samples)
      if (s.name == name && s.labels == labels) return s.value;
    ADD_FAILURE() << "no sample " << name;
    return -1;
  }
};

// Label values: "..." with \\, \" and \n escapes.
bool parse_labels(const std::string& text, std::map<std::string, std::string>& out) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t eq = text.find('=', i);
    if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"') return false;
    const std::string key = text.substr(i, eq - i);
    if (!std::regex_match(key, std::regex("[a-zA-Z_][a-zA-Z0-9_]*"))) return false;
    std::string v;
    size_t k = eq + 2;
    for (; k < text.size() && text[k] != '"'; ++k) {
      if (text[k] != '\\') { v += text[k]; continue; }
      if (++k >= text.size()) return false;
      v += text[k] == 'n' ? '\n' : text[k];
    }
    if (k >= text.size() || out.count(key)) return false;
    out[key] = v;
    i = k + 1;
    if (i < text.size() && text[i++] != ',') return false;
  }
  return true;
}

Exposition parse(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line, current;
  std::set<std::string> finished;  // families whose samples are over
  const std::regex meta(R"(# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+))");
  const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+))");
  for (int n = 1; std::getline(in, line); ++n) {
    std::smatch m;
    auto fail = [&](const std::string& why) { e.errors.push_back("line " + std::to_string(n) + ": " + why + ": " + line); };
    if (std::regex_match(line, m, meta)) {
      auto& map = m[1] == "HELP" ? e.help : e.type;
      if (map.count(m[2])) fail("repeated " + m[1].str());
      map[m[2]] = m[3];
      if (m[1] == "TYPE" && !std::set<std::string>{"counter", "gauge", "histogram"}.count(m[3])) fail("type");
      continue;
    }
    if (!std::regex_match(line, m, sample)) { fail("not a sample"); continue; }
    Sample s{m[1], {}, 0};
    if (m[2].matched && !parse_labels(m[3], s.labels)) fail("labels");
    try {
      s.value = m[4] == "+Inf" ? HUGE_VAL : std::stod(m[4]);
    } catch (...) {
      fail("value");
    }
    const std::string fam = e.family(s.name);
    if (!e.help.count(fam) || !e.type.count(fam)) fail("no HELP/TYPE before the sample");
    if (fam != current) {
      if (finished.count(fam)) fail("family split");
      if (!current.empty()) finished.insert(current);
      current = fam;
    }
    if (e.type[fam] == "counter" && fam.size() > 6 && fam.substr(fam.size() - 6) != "_total") fail("counter without _total");
    e.samples.push_back(std::move(s));
  }
  return e;
}

using Labels = std::map<std::string, std::string>;

TEST(Metrics, EverySampleIsWellFormedAndDeclared) {
  const std::string text = web::prometheus_text(test::sample_status());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const Exposition e = parse(text);
  for (const auto& err : e.errors) ADD_FAILURE() << err;
  EXPECT_GT(e.samples.size(), 100u);
  for (const auto& [name, t] : e.type) EXPECT_TRUE(e.help.count(name)) << name << " has TYPE without HELP";
}

TEST(Metrics, PerVgpuSeriesAreLabelledByVgpu) {
  const Exposition e = parse(web::prometheus_text(test::sample_status()));
  const std::set<std::string> daemon_wide = {"vgpud_uptime_seconds", "vgpud_vgpus", "vgpud_clients",
                                             "vgpud_connections_total", "vgpud_requests_total",
                                             "vgpud_request_errors_total", "vgpud_malformed_clients_total",
                                             "vgpud_refused_connections_total", "vgpud_uid_refused_connections_total",
                                             "vgpud_hello_timeouts_total", "vgpud_unread_clients_total", "vgpud_denied_requests_total",
                                             "vgpud_direct_flip_available"};
  for (const auto& s : e.samples) {
    if (s.name == "vgpud_opens_total") {  // daemon-wide, by trust
      EXPECT_EQ(s.labels.size(), 1u);
      EXPECT_TRUE(s.labels.at("trust") == "trusted" || s.labels.at("trust") == "untrusted");
      continue;
    }
    if (daemon_wide.count(s.name)) {
      EXPECT_TRUE(s.labels.empty()) << s.name;
      continue;
    }
    ASSERT_TRUE(s.labels.count("vgpu")) << s.name;
    EXPECT_TRUE(s.labels.at("vgpu") == "1" || s.labels.at("vgpu") == "2") << s.name;
  }
}

TEST(Metrics, ValuesMatchTheSnapshot) {
  const Exposition e = parse(web::prometheus_text(test::sample_status()));
  EXPECT_EQ(e.value("vgpud_vgpus", {}), 2);
  EXPECT_EQ(e.value("vgpud_clients", {}), 2);
  EXPECT_EQ(e.value("vgpud_requests_total", {}), 1234);
  EXPECT_EQ(e.value("vgpud_uid_refused_connections_total", {}), 9);
  EXPECT_EQ(e.value("vgpud_hello_timeouts_total", {}), 10);
  EXPECT_EQ(e.value("vgpud_flips_total", Labels{{"vgpu", "1"}, {"plane", "primary"}}), 300);
  EXPECT_EQ(e.value("vgpud_flips_total", Labels{{"vgpu", "1"}, {"plane", "cursor"}}), 12);
  EXPECT_EQ(e.value("vgpud_vblanks_total", Labels{{"vgpu", "1"}}), 600);
  EXPECT_DOUBLE_EQ(e.value("vgpud_vgpu_fps", Labels{{"vgpu", "1"}}), 29.5);
  EXPECT_DOUBLE_EQ(e.value("vgpud_vgpu_refresh_hz", Labels{{"vgpu", "1"}}), 60);
  EXPECT_EQ(e.value("vgpud_events_signalled_total", Labels{{"vgpu", "1"}}), 305);
  EXPECT_EQ(e.value("vgpud_mmio_traps_total", Labels{{"vgpu", "1"}, {"block", "gtt"}, {"access", "write"}}), 1540);
  EXPECT_EQ(e.value("vgpud_mmio_traps_total", Labels{{"vgpu", "1"}, {"block", "display"}, {"access", "read"}}), 40);
  EXPECT_EQ(e.value("vgpud_guest_attacks_total", Labels{{"vgpu", "2"}, {"attack", "mmio_beyond_bar"}}), 4);
  EXPECT_EQ(e.value("vgpud_guest_attacks_total", Labels{{"vgpu", "2"}, {"attack", "ggtt_foreign_pte"}}), 9);
  EXPECT_EQ(e.value("vgpud_guest_attacks_total", Labels{{"vgpu", "2"}, {"attack", "fence_out_of_range"}}), 2);
  EXPECT_EQ(e.value("vgpud_guest_attacks_total", Labels{{"vgpu", "1"}, {"attack", "damage_submit_invalid"}}), 3);
  EXPECT_EQ(e.value("vgpud_guest_attacks_total", Labels{{"vgpu", "1"}, {"attack", "plane_crosses_slice"}}), 0);
  EXPECT_EQ(e.value("vgpud_damage_hints", Labels{{"vgpu", "1"}}), 1);
  EXPECT_EQ(e.value("vgpud_damage_hints", Labels{{"vgpu", "2"}}), 0);
  EXPECT_EQ(e.value("vgpud_damage_submits_total", Labels{{"vgpu", "1"}}), 70);
  EXPECT_EQ(e.value("vgpud_exported_buffers_total", Labels{{"vgpu", "1"}}), 17);
  EXPECT_EQ(e.value("vgpud_exporter_live_buffers", Labels{{"vgpu", "1"}}), 3);
  EXPECT_DOUBLE_EQ(e.value("vgpud_tearing_hold_seconds_total", Labels{{"vgpu", "1"}}), 2.5);
  EXPECT_EQ(e.value("vgpud_vgpu_failsafe", Labels{{"vgpu", "2"}}), 1);
  EXPECT_EQ(e.value("vgpud_vgpu_state", Labels{{"vgpu", "2"}, {"state", "failsafe"}}), 1);
  EXPECT_EQ(e.value("vgpud_vgpu_state", Labels{{"vgpu", "2"}, {"state", "running"}}), 0);
  EXPECT_EQ(e.value("vgpud_vgpu_info", Labels{{"vgpu", "2"}, {"type", "Odd \"type\"\\name"}, {"workload", "console"},
                                                {"tearing", "none"}}),
            1)
      << "quotes and backslashes in a label survive escaping";
}

TEST(Metrics, DirectFlipSeriesForTheHostDisplayAndTheVgpusOnIt) {
  server::DaemonStatus s = test::sample_status();
  EXPECT_EQ(parse(web::prometheus_text(s)).value("vgpud_direct_flip_available", {}), 0) << "no host display";
  server::HostDisplayStatus h;
  h.name = "virtual";
  server::OutputStatus one, two;
  one.name = "Virtual-1", one.vgpu = 2;
  one.view_port = 5951, one.view_ws_refused = {{"host", 1}, {"origin", 7}, {"header", 0}};
  two.name = "Virtual-2";  // no view (a card's output): no series
  h.outputs = {one, two};
  h.links.assigns = 3, h.links.released = 1, h.links.refused = 4, h.links.renewed = 5;
  h.commits.commits = 500, h.commits.with_allow_modeset = 2;
  s.host_display = h;
  s.vgpus[1].direct_flip = server::DirectFlipStatus{"Virtual-1", 'A', {}, "own", ""};
  s.vgpus[1].direct_flip->counters.imports = 42;
  s.vgpus[1].direct_flip->counters.flips_shown = 40;
  s.vgpus[1].direct_flip->counters.lead_us = 1500;
  s.vgpus[1].direct_flip->counters.host_vblanks = 600;
  const Exposition e = parse(web::prometheus_text(s));
  for (const auto& err : e.errors) ADD_FAILURE() << err;
  EXPECT_EQ(e.value("vgpud_direct_flip_available", {}), 1);
  EXPECT_EQ(e.value("vgpud_direct_flip_output_vgpu", Labels{{"output", "Virtual-1"}}), 2);
  EXPECT_EQ(e.value("vgpud_direct_flip_output_vgpu", Labels{{"output", "Virtual-2"}}), 0);
  EXPECT_EQ(e.value("vgpud_direct_flip_assigns_total", {}), 3);
  EXPECT_EQ(e.value("vgpud_direct_flip_released_total", {}), 1);
  EXPECT_EQ(e.value("vgpud_direct_flip_refused_requests_total", {}), 4);
  EXPECT_EQ(e.value("vgpud_direct_flip_renewed_total", {}), 5);
  EXPECT_EQ(e.value("vgpud_direct_flip_renew_failed_total", {}), 0);
  EXPECT_EQ(e.value("vgpud_direct_flip_host_modesets_total", {}), 2);
  EXPECT_EQ(e.value("vgpud_direct_flip_imports_total", Labels{{"vgpu", "2"}}), 42);
  EXPECT_EQ(e.value("vgpud_direct_flip_flips_shown_total", Labels{{"vgpu", "2"}}), 40);
  EXPECT_EQ(e.value("vgpud_direct_flip_lead_us", Labels{{"vgpu", "2"}}), 1500);
  EXPECT_EQ(e.value("vgpud_direct_flip_host_vblanks_total", Labels{{"vgpu", "2"}}), 600);
  EXPECT_EQ(e.value("vgpud_output_view_ws_refused_total", Labels{{"output", "Virtual-1"}, {"reason", "origin"}}), 7);
  EXPECT_EQ(e.value("vgpud_output_view_ws_refused_total", Labels{{"output", "Virtual-1"}, {"reason", "header"}}), 0);
  for (const auto& x : e.samples) {
    if (x.name == "vgpud_direct_flip_imports_total") {
      EXPECT_EQ(x.labels.at("vgpu"), "2") << "only vGPUs on an output";
    }
    if (x.name == "vgpud_output_view_ws_refused_total") {
      EXPECT_EQ(x.labels.at("output"), "Virtual-1") << "only outputs with a view";
    }
  }
}

TEST(Metrics, LatencyHistogramIsCumulativeWithInfEqualToCount) {
  const Exposition e = parse(web::prometheus_text(test::sample_status()));
  EXPECT_EQ(e.type.at("vgpud_event_latency_seconds"), "histogram");
  for (const std::string vgpu : {"1", "2"}) {
    std::vector<std::pair<double, double>> buckets;  // (le, count)
    for (const auto& s : e.samples)
      if (s.name == "vgpud_event_latency_seconds_bucket" && s.labels.at("vgpu") == vgpu)
        buckets.emplace_back(s.labels.at("le") == "+Inf" ? HUGE_VAL : std::stod(s.labels.at("le")), s.value);
    ASSERT_EQ(buckets.size(), 11u);
    for (size_t i = 1; i < buckets.size(); ++i) {
      EXPECT_GT(buckets[i].first, buckets[i - 1].first) << "le ascending";
      EXPECT_GE(buckets[i].second, buckets[i - 1].second) << "cumulative";
    }
    EXPECT_EQ(buckets.back().first, HUGE_VAL);
    EXPECT_EQ(buckets.back().second, e.value("vgpud_event_latency_seconds_count", Labels{{"vgpu", vgpu}}));
  }
  // vGPU 1: 10, 30, 40, 120 us, 3 ms, 90 ms.
  EXPECT_EQ(e.value("vgpud_event_latency_seconds_bucket", Labels{{"vgpu", "1"}, {"le", "2.5e-05"}}), 1);
  EXPECT_EQ(e.value("vgpud_event_latency_seconds_bucket", Labels{{"vgpu", "1"}, {"le", "5e-05"}}), 3);
  EXPECT_EQ(e.value("vgpud_event_latency_seconds_bucket", Labels{{"vgpu", "1"}, {"le", "0.025"}}), 5);
  EXPECT_EQ(e.value("vgpud_event_latency_seconds_count", Labels{{"vgpu", "1"}}), 6);
  EXPECT_NEAR(e.value("vgpud_event_latency_seconds_sum", Labels{{"vgpu", "1"}}), 0.0932, 1e-9);
}

TEST(Metrics, ViewerSeriesOnlyForVgpusWithAViewer) {
  const Exposition e = parse(web::prometheus_text(test::sample_status()));
  EXPECT_EQ(e.value("vgpud_vnc_clients", Labels{{"vgpu", "1"}}), 1);
  EXPECT_EQ(e.value("vgpud_vnc_bytes_sent_total", Labels{{"vgpu", "1"}}), 123456);
  EXPECT_EQ(e.value("vgpud_vnc_ws_refused_total", Labels{{"vgpu", "1"}, {"reason", "origin"}}), 3);
  EXPECT_EQ(e.value("vgpud_vnc_ws_refused_total", Labels{{"vgpu", "1"}, {"reason", "header"}}), 0) << "zeros too";
  for (const auto& s : e.samples) {
    if (s.name.rfind("vgpud_vnc_", 0) == 0) {
      EXPECT_EQ(s.labels.at("vgpu"), "1") << s.name;
    }
  }
}

TEST(Metrics, NoVgpusStillGivesAValidDaemonSection) {
  const Exposition e = parse(web::prometheus_text(server::DaemonStatus{}));
  for (const auto& err : e.errors) ADD_FAILURE() << err;
  EXPECT_EQ(e.value("vgpud_vgpus", {}), 0);
}

TEST(Metrics, LabelEscaping) {
  EXPECT_EQ(web::escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(web::escape_label("plain"), "plain");
}

}  // namespace
}  // namespace vgd
