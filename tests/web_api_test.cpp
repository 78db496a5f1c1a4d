// /api's JSON, from a hand-made snapshot: the shape a page or script relies on and the values
// it came from; names match /metrics' labels.
#include <gtest/gtest.h>

#include "web/api_json.h"
#include "web_support.h"

namespace vgd {
namespace {

using nlohmann::json;

TEST(WebApi, DaemonListsCountersAndEveryVgpu) {
  const json j = web::daemon_json(test::sample_status());
  EXPECT_DOUBLE_EQ(j.at("uptime_s").get<double>(), 12.5);
  EXPECT_EQ(j.at("clients"), 2);
  EXPECT_EQ(j.at("connections"), 7);
  EXPECT_EQ(j.at("requests"), 1234);
  EXPECT_EQ(j.at("errors"), 3);
  EXPECT_EQ(j.at("malformed"), 1);
  EXPECT_EQ(j.at("refused_connections"), 4);
  EXPECT_EQ(j.at("uid_refused_connections"), 9);
  EXPECT_EQ(j.at("hello_timeouts"), 10);
  EXPECT_EQ(j.at("denied"), 5);
  EXPECT_EQ(j.at("opens"), (json{{"trusted", 6}, {"untrusted", 8}}));
  ASSERT_EQ(j.at("vgpus").size(), 2u);
  EXPECT_EQ(j["vgpus"][0], (json{{"id", 1}, {"type", "GVTg_V5_8"}, {"workload", "desktop"}, {"state", "running"}}));
  EXPECT_EQ(j["vgpus"][1].at("state"), "failsafe");
}

TEST(WebApi, VgpuCarriesModeRatesEventsAndCounters) {
  const json v = web::vgpu_json(test::sample_status().vgpus[0]);
  EXPECT_EQ(v.at("id"), 1);
  EXPECT_EQ(v.at("mode"), (json{{"width", 1024}, {"height", 768}, {"refresh_mhz", 60000}}));
  EXPECT_DOUBLE_EQ(v.at("fps").get<double>(), 29.5);
  EXPECT_EQ(v.at("failsafe"), false);
  EXPECT_TRUE(v.at("failsafe_reason").is_null());
  EXPECT_EQ(v.at("tearing"), "hold");
  EXPECT_EQ(v.at("flips"), (json{{"primary", 300}, {"sprite", 0}, {"cursor", 12}}));
  EXPECT_EQ(v.at("events").at("published"), 310);
  EXPECT_EQ(v.at("events").at("masked"), 2);
  EXPECT_EQ(v.at("mmio").at("traps").at("gtt").at("writes"), 1540);
  EXPECT_EQ(v.at("mmio").at("traps").at("display").at("reads"), 40);
  EXPECT_EQ(v.at("mmio").at("traps").size(), hw::kRegBlockCount);
  EXPECT_EQ(v.at("guest_attacks").at("mmio_misaligned"), 5);
  EXPECT_EQ(v.at("access_notes").at("pte_writes"), 1540);
  EXPECT_EQ(v.at("damage_hints"), (json{{"enabled", true}, {"submits", 70}, {"refused", 3}, {"ignored", 5}}));
  EXPECT_EQ(v.at("guest_attacks").at("damage_submit_invalid"), 3);
  EXPECT_EQ(v.at("exporter").at("exported_buffers"), 17);
  EXPECT_EQ(v.at("exporter").at("live_buffers"), 3);
  EXPECT_EQ(v.at("tearing_counters").at("hold_ns_total"), 2'500'000'000u);
  EXPECT_EQ(v.at("vnc"), (json{{"port", 5901}, {"clients", 1}, {"frames", 300}, {"updates", 280},
                               {"bytes_sent", 123456}, {"cursor_moves", 12}, {"resizes", 1},
                               {"websocket_refused", {{"host", 2}, {"origin", 3}, {"header", 0}}}}));
}

TEST(WebApi, LatencyBucketsAreCumulativeAndEndAtInf) {
  const json h = web::vgpu_json(test::sample_status().vgpus[0]).at("events").at("latency");
  EXPECT_EQ(h.at("count"), 6);
  EXPECT_EQ(h.at("sum_ns"), 93'200'000u);
  const json& b = h.at("buckets");
  ASSERT_EQ(b.size(), 11u);
  EXPECT_EQ(b[0], (json{{"le_ns", 25'000}, {"count", 1}}));
  EXPECT_EQ(b[1], (json{{"le_ns", 50'000}, {"count", 3}}));
  EXPECT_EQ(b[10], (json{{"le_ns", "+Inf"}, {"count", 6}}));
  for (size_t i = 1; i < b.size(); ++i) EXPECT_GE(b[i].at("count"), b[i - 1].at("count"));
}

TEST(WebApi, FailsafeVgpuWithoutViewer) {
  const json v = web::vgpu_json(test::sample_status().vgpus[1]);
  EXPECT_EQ(v.at("state"), "failsafe");
  EXPECT_EQ(v.at("failsafe"), true);
  EXPECT_EQ(v.at("failsafe_reason"), "guest reported insufficient resources");
  EXPECT_EQ(v.at("type"), "Odd \"type\"\\name") << "JSON escaping is the library's: round-trips";
  EXPECT_EQ(v.at("guest_attacks").at("ggtt_foreign_pte"), 9);
  EXPECT_EQ(v.at("guest_attacks").at("fence_out_of_range"), 2);
  EXPECT_EQ(v.at("guest_attacks").at("mode_too_large"), 0);
  EXPECT_EQ(v.at("guest_attacks").at("refresh_out_of_range"), 0);
  EXPECT_EQ(v.at("guest_attacks").size(), kGuestAttackCount) << "every attack of the catalogue, named";
  EXPECT_TRUE(v.at("vnc").is_null());
  EXPECT_EQ(json::parse(v.dump()), v);
}

TEST(WebApi, VgpusIsTheFullRecordOfEach) {
  const auto s = test::sample_status();
  const json a = web::vgpus_json(s);
  ASSERT_TRUE(a.is_array());
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0], web::vgpu_json(s.vgpus[0]));
  EXPECT_EQ(a[1], web::vgpu_json(s.vgpus[1]));
  EXPECT_EQ(web::vgpus_json(server::DaemonStatus{}), json::array());
}

TEST(WebApi, DirectFlipBlockAndOutputs) {
  server::DaemonStatus s = test::sample_status();
  EXPECT_TRUE(web::vgpu_json(s.vgpus[0]).at("direct_flip").is_null()) << "on no output";
  EXPECT_EQ(web::outputs_json(s).at("available"), false);
  EXPECT_TRUE(web::outputs_json(s).at("outputs").empty());
  s.vgpus[0].direct_flip = server::DirectFlipStatus{"Virtual-1", 'A', {}, "own", ""};
  s.vgpus[0].direct_flip->counters.commits = 9;
  s.vgpus[0].direct_flip->counters.scaled_fallbacks = 2;
  const json d = web::vgpu_json(s.vgpus[0]).at("direct_flip");
  EXPECT_EQ(d.at("output"), "Virtual-1");
  EXPECT_EQ(d.at("pipe"), "A");
  EXPECT_EQ(d.at("commits"), 9);
  EXPECT_EQ(d.at("scaled_fallbacks"), 2);
  for (const char* k : {"frames", "imports", "refills", "bytes_copied", "flips_shown", "host_vblanks", "clock_aligns"})
    EXPECT_TRUE(d.contains(k)) << k;
  EXPECT_EQ(d.at("clock"), "own") << "until the host display's vblanks lead it";
  s.vgpus[0].direct_flip->clock = "host";
  s.vgpus[0].direct_flip->counters.lead_us = 1500;
  const json led = web::vgpu_json(s.vgpus[0]).at("direct_flip");
  EXPECT_EQ(led.at("clock"), "host");
  EXPECT_EQ(led.at("lead_us"), 1500);
  EXPECT_EQ(led.at("clock_reason"), "");
  server::HostDisplayStatus h;
  h.name = "virtual";
  server::OutputStatus o;
  o.name = "Virtual-1", o.connected = true, o.crtc = 32, o.width = 1920, o.height = 1080, o.refresh_mhz = 60000;
  o.vgpu = 1, o.by_config = true;
  server::OutputStatus kms;  // an output without a view (a card's: it has glass)
  kms.name = "HDMI-A-1";
  o.view_port = 5951, o.view_clients = 2, o.view_pictures = 40;
  o.view_ws_refused = {{"host", 0}, {"origin", 6}, {"header", 0}};
  h.outputs = {o, kms};
  h.links.refused = 5;
  h.links.renewed = 3;
  s.host_display = h;
  const json j = web::outputs_json(s);
  EXPECT_EQ(j.at("available"), true);
  EXPECT_EQ(j.at("display"), "virtual");
  ASSERT_EQ(j.at("outputs").size(), 2u);
  EXPECT_EQ(j["outputs"][0].at("mode"), (json{{"width", 1920}, {"height", 1080}, {"refresh_mhz", 60000}}));
  EXPECT_EQ(j["outputs"][0].at("vgpu"), (json{{"id", 1}, {"pipe", "A"}, {"by_config", true}}));
  // Where the page connects its noVNC view of the output (websocket on the VNC port).
  EXPECT_EQ(j["outputs"][0].at("view"), (json{{"vnc_port", 5951}, {"clients", 2}, {"pictures_sent", 40},
                                               {"websocket_refused", {{"host", 0}, {"origin", 6}, {"header", 0}}}}));
  EXPECT_TRUE(j["outputs"][1].at("view").is_null()) << "no view: the page shows a status line";
  EXPECT_TRUE(j["outputs"][1].at("vgpu").is_null());
  EXPECT_EQ(j.at("requests").at("refused"), 5);
  EXPECT_EQ(j.at("links_renewed"), (json{{"ram_replaced", 3}, {"failed", 0}})) << "links made anew: their RAM went";
}

TEST(WebApi, ErrorShape) {
  EXPECT_EQ(web::error_json(404, "no vGPU 9"), (json{{"error", {{"status", 404}, {"message", "no vGPU 9"}}}}));
}

}  // namespace
}  // namespace vgd
