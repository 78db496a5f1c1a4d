// The KMS backend's pure parts (docs/direct-flip.md, The KMS backend): the atomic request a
// State becomes, the commit flags, IN_FORMATS blobs, connector names and mode refresh rates.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "hostdisplay/kms_parse.h"
#include "hostdisplay/kms_request.h"
#include "hw/formats.h"

namespace vgd::hostdisplay::kms {
namespace {

namespace d = hw::drm;

class FakeBuffer : public Buffer {
 public:
  explicit FakeBuffer(uint32_t fb) : Buffer(BufferLayout{}, fb) {}
};

// A card like virtio-gpu's: CRTC 40, connector 35, primary plane 31, cursor plane 32.
PropertyTable card() {
  PropertyTable t;
  uint32_t next = 1;
  for (const char* p : {"FB_ID", "CRTC_ID", "SRC_X", "SRC_Y", "SRC_W", "SRC_H", "CRTC_X", "CRTC_Y", "CRTC_W", "CRTC_H", "type"}) {
    t.set(31, p, next++);
    t.set(32, p, 100 + next++);
  }
  t.set(40, "MODE_ID", 200);
  t.set(40, "ACTIVE", 201);
  t.set(35, "CRTC_ID", 300);
  return t;
}

// A plane on `crtc` showing framebuffer `fb` (0: no buffer).
PlaneState plane(uint32_t id, uint32_t crtc, uint32_t fb) {
  PlaneState p;
  p.plane_id = id;
  p.crtc_id = crtc;
  if (fb) p.buffer = std::make_shared<FakeBuffer>(fb);
  return p;
}

Mode named_mode(const char* name) {
  Mode m;
  m.name = name;
  return m;
}

uint64_t value_of(const std::vector<PropertySet>& sets, uint32_t object, uint32_t prop) {
  for (const PropertySet& s : sets)
    if (s.object_id == object && s.property_id == prop) return s.value;
  ADD_FAILURE() << "no property " << prop << " on " << object;
  return ~0ull;
}

TEST(KmsRequest, APlaneOnACrtcSetsBufferCrtcAndBothRectangles) {
  const PropertyTable t = card();
  State s;
  PlaneState p = plane(32, 40, 77);
  p.src_w = fixed16(64);
  p.src_h = fixed16(64);
  p.crtc_x = -10;  // a cursor half off the left edge
  p.crtc_y = 20;
  p.crtc_w = p.crtc_h = 64;
  s.planes.push_back(p);
  const auto sets = build_request(s, t, {});
  ASSERT_TRUE(sets) << sets.error();
  ASSERT_EQ(sets->size(), 10u);
  EXPECT_EQ(value_of(*sets, 32, t.find(32, "FB_ID")), 77u);
  EXPECT_EQ(value_of(*sets, 32, t.find(32, "CRTC_ID")), 40u);
  EXPECT_EQ(value_of(*sets, 32, t.find(32, "SRC_W")), 64u << 16);
  EXPECT_EQ(static_cast<int64_t>(value_of(*sets, 32, t.find(32, "CRTC_X"))), -10);
  EXPECT_EQ(value_of(*sets, 32, t.find(32, "CRTC_Y")), 20u);
  EXPECT_EQ(value_of(*sets, 32, t.find(32, "CRTC_H")), 64u);
}

// A cursor's hotspot goes where the plane has HOTSPOT_X/Y (a virtualized driver's cursor plane,
// Linux 6.8) and is left out where it has not (any other plane, older kernels).
TEST(KmsRequest, AHotspotIsSetOnlyOnPlanesWithHotspotProperties) {
  PropertyTable t = card();
  t.set(32, "HOTSPOT_X", 150);
  t.set(32, "HOTSPOT_Y", 151);
  State s;
  PlaneState cursor = plane(32, 40, 77);
  cursor.hotspot = Hotspot{3, 4};
  PlaneState primary = plane(31, 40, 78);
  primary.hotspot = Hotspot{5, 6};
  s.planes = {cursor, primary};
  const auto sets = build_request(s, t, {});
  ASSERT_TRUE(sets) << sets.error();
  ASSERT_EQ(sets->size(), 22u) << "ten properties per plane, and the cursor's two";
  EXPECT_EQ(value_of(*sets, 32, 150), 3u);
  EXPECT_EQ(value_of(*sets, 32, 151), 4u);

  const PropertyTable old_kernel = card();
  const auto without = build_request(s, old_kernel, {});
  ASSERT_TRUE(without) << without.error();
  EXPECT_EQ(without->size(), 20u) << "no HOTSPOT properties: the hotspot is left out, not an error";

  s.planes = {plane(32, 40, 77)};  // no hotspot: the plane's stays as it was
  EXPECT_EQ(build_request(s, t, {})->size(), 10u);
}

TEST(KmsRequest, APlaneWithoutBufferIsTurnedOff) {
  const PropertyTable t = card();
  State s;
  s.planes.push_back(plane(31, 0, 0));
  const auto sets = build_request(s, t, {});
  ASSERT_TRUE(sets) << sets.error();
  EXPECT_EQ(*sets, (std::vector<PropertySet>{{31, t.find(31, "FB_ID"), 0}, {31, t.find(31, "CRTC_ID"), 0}}));
}

TEST(KmsRequest, AModesetRoutesTheConnectorAndSetsTheModeBlob) {
  const PropertyTable t = card();
  State s;
  CrtcState c;
  c.crtc_id = 40;
  c.active = true;
  c.mode = named_mode("1024x768");
  c.connector_id = 35;
  s.crtcs.push_back(c);
  const auto sets = build_request(s, t, {{40, 9}});
  ASSERT_TRUE(sets) << sets.error();
  EXPECT_EQ(*sets, (std::vector<PropertySet>{{40, 200, 9}, {40, 201, 1}, {35, 300, 40}}));
}

TEST(KmsRequest, AnObjectOfAnotherDisplayFailsTheWholeRequestWithTheFirstReason) {
  const PropertyTable t = card();
  State s;
  s.planes.push_back(plane(31, 40, 5));
  s.planes.push_back(plane(33, 40, 6));  // leased away
  s.planes.push_back(plane(32, 0, 7));
  const auto sets = build_request(s, t, {});
  ASSERT_FALSE(sets);
  EXPECT_EQ(sets.error(), "object 33 is not one of this display's");
}

TEST(KmsRequest, InconsistentPlanesAndMissingModeBlobsAreRefused) {
  const PropertyTable t = card();
  State buffer_without_crtc;
  buffer_without_crtc.planes.push_back(plane(31, 0, 5));
  EXPECT_EQ(build_request(buffer_without_crtc, t, {}).error(), "plane 31: a buffer but no CRTC");
  State crtc_without_buffer;
  crtc_without_buffer.planes.push_back(plane(31, 40, 0));
  EXPECT_EQ(build_request(crtc_without_buffer, t, {}).error(), "plane 31: a CRTC (40) but no buffer");
  State no_blob;
  no_blob.crtcs.push_back(CrtcState{40, std::nullopt, named_mode("640x480"), std::nullopt});
  EXPECT_EQ(build_request(no_blob, t, {}).error(), "CRTC 40: no mode blob for mode 640x480");
  State no_such_property;
  no_such_property.crtcs.push_back(CrtcState{35, true, std::nullopt, std::nullopt});  // a connector has no ACTIVE
  EXPECT_EQ(build_request(no_such_property, t, {}).error(), "object 35 has no property ACTIVE");
}

TEST(KmsRequest, BuilderIgnoresAddsAfterItFailed) {
  const PropertyTable t = card();
  RequestBuilder b(t);
  b.add(31, "FB_ID", 1);
  b.add(31, "ZPOS", 2);
  b.add(31, "CRTC_ID", 40);
  EXPECT_TRUE(b.failed());
  EXPECT_EQ(b.sets().size(), 1u);
  EXPECT_EQ(b.error(), "object 31 has no property ZPOS");
}

TEST(KmsFlags, MapToDrmAndATestNeverAsksForAnEvent) {
  EXPECT_EQ(drm_commit_flags(kNonblock | kPageFlipEvent), kDrmNonblock | kDrmPageFlipEvent);
  EXPECT_EQ(drm_commit_flags(kTestOnly | kNonblock | kPageFlipEvent | kAllowModeset),
            kDrmTestOnly | kDrmNonblock | kDrmAllowModeset);
  EXPECT_EQ(drm_commit_flags(kAsync | kPageFlipEvent), kDrmPageFlipAsync | kDrmPageFlipEvent);
  EXPECT_EQ(flags_text(kTestOnly | kAllowModeset), "TEST_ONLY|ALLOW_MODESET");
  EXPECT_EQ(flags_text(0), "none");
}

// An IN_FORMATS blob as the kernel lays it out: header, formats, modifiers (24 bytes each).
std::vector<uint8_t> in_formats(const std::vector<uint32_t>& formats,
                                const std::vector<std::tuple<uint64_t, uint32_t, uint64_t>>& mods) {
  const uint32_t header[6] = {1, 0, static_cast<uint32_t>(formats.size()), 24, static_cast<uint32_t>(mods.size()),
                              static_cast<uint32_t>(24 + formats.size() * 4)};
  std::vector<uint8_t> out(sizeof header + formats.size() * 4 + mods.size() * 24);
  std::memcpy(out.data(), header, sizeof header);
  std::memcpy(out.data() + 24, formats.data(), formats.size() * 4);
  for (size_t i = 0; i < mods.size(); ++i) {
    uint8_t* at = out.data() + header[5] + i * 24;
    const auto [mask, offset, modifier] = mods[i];
    std::memcpy(at, &mask, 8);
    std::memcpy(at + 8, &offset, 4);
    std::memcpy(at + 16, &modifier, 8);
  }
  return out;
}

TEST(KmsInFormats, EveryPairOfTheBlob) {
  const auto blob = in_formats({d::kXRGB8888, d::kARGB8888, d::kRGB565},
                               {{0b111, 0, d::kModLinear}, {0b001, 0, d::kModXTiled}, {0b10, 1, d::kModYTiled}});
  const auto got = parse_in_formats(blob);
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(*got, (std::vector<FormatModifier>{{d::kXRGB8888, 0}, {d::kARGB8888, 0}, {d::kRGB565, 0},
                                               {d::kXRGB8888, d::kModXTiled}, {d::kRGB565, d::kModYTiled}}));
}

TEST(KmsInFormats, ABlobThatDoesNotHoldTogetherIsRefused) {
  auto blob = in_formats({d::kXRGB8888}, {{0b1, 0, 0}});
  EXPECT_FALSE(parse_in_formats(std::span(blob).first(20)));   // no header
  EXPECT_FALSE(parse_in_formats(std::span(blob).first(40)));   // modifiers cut off
  auto past = in_formats({d::kXRGB8888}, {{0b10, 0, 0}});     // names format 1 of 1
  EXPECT_EQ(parse_in_formats(past).error(), "IN_FORMATS modifier 0x0 names format 1 of 1");
  blob[0] = 2;
  EXPECT_EQ(parse_in_formats(blob).error(), "IN_FORMATS blob version 2 (not 1)");
  auto huge = in_formats({d::kXRGB8888}, {{0b1, 0, 0}});
  const uint32_t wrap = 0xffffffff;
  std::memcpy(huge.data() + 8, &wrap, 4);  // count_formats whose size would wrap 32 bits
  EXPECT_FALSE(parse_in_formats(huge));
}

TEST(KmsInFormats, WithoutTheBlobEveryFormatIsLinear) {
  const uint32_t fourccs[] = {d::kXRGB8888, d::kARGB8888};
  EXPECT_EQ(linear_formats(fourccs), (std::vector<FormatModifier>{{d::kXRGB8888, 0}, {d::kARGB8888, 0}}));
}

TEST(KmsNames, ConnectorsAreNamedLikeTheKernelDoes) {
  EXPECT_EQ(connector_name(15, 1), "Virtual-1");
  EXPECT_EQ(connector_name(11, 2), "HDMI-A-2");
  EXPECT_EQ(connector_name(14, 1), "eDP-1");
  EXPECT_EQ(connector_name(99, 3), "Unknown-3");
  EXPECT_EQ(plane_type(1), PlaneType::Primary);
  EXPECT_EQ(plane_type(2), PlaneType::Cursor);
  EXPECT_EQ(plane_type(0), PlaneType::Overlay);
  EXPECT_EQ(plane_type(3), std::nullopt);
}

TEST(KmsModes, RefreshInMillihertzAsTheKernelComputesIt) {
  EXPECT_EQ(refresh_mhz(65000, 1344, 806, 0, false, false), 60004u);   // 1024x768@60 (VESA)
  EXPECT_EQ(refresh_mhz(148500, 2200, 1125, 0, false, false), 60000u); // 1920x1080@60 (CEA)
  EXPECT_EQ(refresh_mhz(74250, 2200, 1125, 0, true, false), 60000u);   // 1080i: two fields a frame
  EXPECT_EQ(refresh_mhz(65000, 1344, 806, 0, false, true), 30002u);
  EXPECT_EQ(refresh_mhz(65000, 0, 806, 0, false, false), 0u);
  EXPECT_EQ(dumb_bpp(d::kXRGB8888), 32u);
  EXPECT_EQ(dumb_bpp(d::kRGB565), 16u);
  EXPECT_EQ(dumb_bpp(d::kYUYV), 0u);
}

}  // namespace
}  // namespace vgd::hostdisplay::kms
