// The plane query as a VFIO consumer sees it (docs/protocol.md §3.4): the record is Linux's
// struct byte for byte, PROBE answers support only, a disabled plane is a zeroed success, and
// every malformed request is refused with a code and a reason before anything is decoded.
#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <cstring>
#include <string>

#include "exporter/exporter.h"
#include "exporter/query.h"

namespace vgd::exporter {
namespace {

using decode::DecodeError;
using decode::PlaneInfo;
using Kind = DecodeError::Kind;
constexpr ConsumerKey kConsumer{1};

#define EXPECT_SAME_OFFSET(field) EXPECT_EQ(offsetof(GfxPlaneInfo, field), offsetof(vfio_device_gfx_plane_info, field))

TEST(PlaneAbi, FieldOffsetsAndSizeAreLinuxs) {
  EXPECT_EQ(sizeof(GfxPlaneInfo), sizeof(vfio_device_gfx_plane_info));
  EXPECT_SAME_OFFSET(argsz);
  EXPECT_SAME_OFFSET(flags);
  EXPECT_SAME_OFFSET(drm_plane_type);
  EXPECT_SAME_OFFSET(drm_format);
  EXPECT_SAME_OFFSET(drm_format_mod);
  EXPECT_SAME_OFFSET(width);
  EXPECT_SAME_OFFSET(height);
  EXPECT_SAME_OFFSET(stride);
  EXPECT_SAME_OFFSET(size);
  EXPECT_SAME_OFFSET(x_pos);
  EXPECT_SAME_OFFSET(y_pos);
  EXPECT_SAME_OFFSET(x_hot);
  EXPECT_SAME_OFFSET(y_hot);
  EXPECT_SAME_OFFSET(region_index);
  EXPECT_SAME_OFFSET(dmabuf_id);
  EXPECT_EQ(kFlagProbe, uint32_t{VFIO_GFX_PLANE_TYPE_PROBE});
  EXPECT_EQ(kFlagDmabuf, uint32_t{VFIO_GFX_PLANE_TYPE_DMABUF});
  EXPECT_EQ(kFlagRegion, uint32_t{VFIO_GFX_PLANE_TYPE_REGION});
}

// The same values written through either struct give the same 64 bytes.
TEST(PlaneAbi, BytesAreLinuxs) {
  vfio_device_gfx_plane_info k;
  std::memset(&k, 0, sizeof k);
  k.argsz = 64, k.flags = 2, k.drm_plane_type = 1, k.drm_format = 0x34325258;
  k.drm_format_mod = 0x0100000000000001ull, k.width = 1920, k.height = 1080, k.stride = 7680;
  k.size = 8294400, k.x_pos = 0xFFFFFFF6u, k.y_pos = 3, k.x_hot = 0xFFFFFFFFu, k.y_hot = 4, k.dmabuf_id = 7;
  GfxPlaneInfo o;
  o.argsz = 64, o.flags = 2, o.drm_plane_type = 1, o.drm_format = 0x34325258;
  o.drm_format_mod = 0x0100000000000001ull, o.width = 1920, o.height = 1080, o.stride = 7680;
  o.size = 8294400, o.x_pos = pos_bits(-10), o.y_pos = 3, o.x_hot = kHotUnknown, o.y_hot = 4, o.dmabuf_id = 7;
  EXPECT_EQ(std::memcmp(&k, &o, sizeof o), 0);
  EXPECT_EQ(o.region_index, 7u) << "region_index and dmabuf_id share their word";
  EXPECT_EQ(signed_pos(k.x_pos), -10) << "a negative cursor position survives the u32 field";
}

GfxPlaneInfo request(uint32_t flags = kFlagDmabuf, uint32_t type = kPlanePrimary, uint32_t argsz = sizeof(GfxPlaneInfo)) {
  GfxPlaneInfo r;
  r.argsz = argsz, r.flags = flags, r.drm_plane_type = type;
  return r;
}

PlaneInfo decoded_plane(hw::Plane p = hw::Plane::Primary) {
  PlaneInfo i;
  i.plane = p;
  i.fourcc = 0x34325241;  // AR24
  i.modifier = 0x0100000000000001ull;
  i.width = 64, i.height = 32, i.stride = 512, i.size = 16384;
  i.base = Gma(0x100000);
  i.x_pos = -5, i.y_pos = 7, i.x_hot = 1, i.y_hot = 2;
  for (uint64_t k = 0; k < 4; ++k) i.pages.push_back(MemfdOffset::from_page(0x200 + k));
  return i;
}
DecodeResult failed(Kind k, std::string why = "the decoder's reason") { return Unexpected(DecodeError{k, std::move(why)}); }

TEST(PlaneQuery, ProbeForDmabufSucceedsWithoutDecodingAnyPlane) {
  Exporter ex({});
  int decodes = 0;
  const auto decode = [&](hw::Plane) -> DecodeResult { ++decodes; return decoded_plane(); };
  for (uint32_t type : {kPlanePrimary, kPlaneCursor, 77u}) {  // the kernel checks no plane type here
    const GfxPlaneInfo req = request(kFlagProbe | kFlagDmabuf, type);
    const auto r = ex.query(kConsumer, req, decode);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(std::memcmp(&*r, &req, sizeof req), 0) << "a probe answers support only";
  }
  EXPECT_EQ(decodes, 0);
  EXPECT_EQ(ex.counters().queries, 3u);
  EXPECT_EQ(ex.counters().live, 0u) << "a probe creates no buffer";
}

struct Refusal {
  const char* name;
  GfxPlaneInfo req;
  Errc code;
  const char* needle;
};
class QueryRefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(QueryRefusalTest, IsRefusedBeforeDecoding) {
  Exporter ex({});
  int decodes = 0;
  const auto r = ex.query(kConsumer, GetParam().req, [&](hw::Plane) -> DecodeResult { ++decodes; return decoded_plane(); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, GetParam().code) << r.error().message;
  EXPECT_NE(r.error().message.find(GetParam().needle), std::string::npos) << r.error().message;
  EXPECT_EQ(decodes, 0);
  EXPECT_EQ(ex.counters().refused, 1u);
  EXPECT_EQ(ex.counters().queries, 1u);
}
INSTANTIATE_TEST_SUITE_P(
    Requests, QueryRefusalTest,
    ::testing::Values(Refusal{"ArgszBelow60", request(kFlagDmabuf, kPlanePrimary, 59), Errc::InvalidArgument, "argsz 59"},
                      Refusal{"ProbeWithShortArgsz", request(kFlagProbe | kFlagDmabuf, 1, 8), Errc::InvalidArgument, "argsz"},
                      Refusal{"NoFlags", request(0), Errc::InvalidArgument, "flags 0x0"},
                      Refusal{"ProbeAlone", request(kFlagProbe), Errc::InvalidArgument, "exactly DMABUF"},
                      Refusal{"ProbeRegion", request(kFlagProbe | kFlagRegion), Errc::NotSupported, "REGION"},
                      Refusal{"Region", request(kFlagRegion), Errc::NotSupported, "REGION"},
                      Refusal{"DmabufAndRegion", request(kFlagDmabuf | kFlagRegion), Errc::NotSupported, "REGION"},
                      Refusal{"UnknownFlag", request(kFlagDmabuf | 1u << 3), Errc::InvalidArgument, "0x8"},
                      Refusal{"ProbeUnknownFlag", request(kFlagProbe | kFlagDmabuf | 1u << 31), Errc::InvalidArgument, "0x80000000"},
                      Refusal{"PlaneType3", request(kFlagDmabuf, 3), Errc::InvalidArgument, "plane type 3"},
                      Refusal{"PlaneTypeAllOnes", request(kFlagDmabuf, ~0u), Errc::InvalidArgument, "4294967295"}),
    [](const auto& p) { return std::string(p.param.name); });

// QEMU pre-zeroes its struct; a consumer that does not must still see zeroes, not its own bytes.
TEST(PlaneQuery, DisabledPlaneIsSuccessWithEveryOutputZeroed) {
  for (uint32_t type : {kPlaneOverlay, kPlanePrimary, kPlaneCursor}) {
    GfxPlaneInfo req;
    std::memset(static_cast<void*>(&req), 0xAB, sizeof req);  // garbage in every output
    req.argsz = sizeof req, req.flags = kFlagDmabuf, req.drm_plane_type = type;
    Exporter ex({});
    const auto r = ex.query(kConsumer, req, failed(Kind::NoPlane, "plane disabled"));
    ASSERT_TRUE(r) << r.error().message;
    GfxPlaneInfo want{};
    want.argsz = req.argsz, want.flags = req.flags, want.drm_plane_type = type;
    EXPECT_EQ(std::memcmp(&*r, &want, sizeof want), 0) << "type " << type;
    EXPECT_TRUE(no_plane(*r));
    EXPECT_EQ(ex.counters().live, 0u);
    EXPECT_EQ(ex.counters().refused, 0u);
  }
}

TEST(PlaneQuery, DecodeErrorsKeepTheirKindAndReason) {
  const auto r1 = answer_query(request(), failed(Kind::Invalid, "pipe A primary: reserved tiling code 3"));
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, Errc::InvalidArgument);
  EXPECT_EQ(r1.error().message, "pipe A primary: reserved tiling code 3");
  const auto r2 = answer_query(request(), failed(Kind::Fault, "page 3 of 4 is not mapped"));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, Errc::Fault);
  EXPECT_EQ(r2.error().message, "page 3 of 4 is not mapped");
}

TEST(PlaneQuery, ReplyCarriesTheFreshlyDecodedPlane) {
  const auto r = answer_query(request(kFlagDmabuf, kPlaneCursor), decoded_plane(hw::Plane::Cursor));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->drm_format, 0x34325241u);
  EXPECT_EQ(r->drm_format_mod, 0x0100000000000001ull);
  EXPECT_EQ(r->width, 64u);
  EXPECT_EQ(r->height, 32u);
  EXPECT_EQ(r->stride, 512u);
  EXPECT_EQ(r->size, 16384u);
  EXPECT_EQ(signed_pos(r->x_pos), -5);
  EXPECT_EQ(signed_pos(r->y_pos), 7);
  EXPECT_EQ(r->x_hot, 1u);
  EXPECT_EQ(r->y_hot, 2u);
  EXPECT_EQ(r->dmabuf_id, 0u) << "ids come from the exporter, not the pure reply";
}

TEST(PlaneQuery, DecodedPlaneMustBeTheOneAskedFor) {
  const auto r = answer_query(request(kFlagDmabuf, kPlaneOverlay), decoded_plane(hw::Plane::Primary));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_NE(r.error().message.find("asked for the overlay plane, decoded the primary plane"), std::string::npos);
}

TEST(PlaneQuery, SizeBeyondTheAbiFieldIsRefusedNotTruncated) {
  PlaneInfo p = decoded_plane();
  p.size = 1ull << 32;
  const auto r = answer_query(request(), p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
}

TEST(PlaneQuery, PageListNotCoveringTheSizeIsRefused) {
  Exporter ex({});
  PlaneInfo p = decoded_plane();
  p.pages.pop_back();
  const auto r = ex.query(kConsumer, request(), p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_EQ(ex.counters().live, 0u);
}

TEST(PlaneQuery, ErrorCodesHaveNames) {
  for (Errc c : {Errc::InvalidArgument, Errc::NotSupported, Errc::Fault, Errc::NoSuchBuffer, Errc::Io, Errc::TooMany})
    EXPECT_NE(errc_name(c), "unknown");
}

}  // namespace
}  // namespace vgd::exporter
